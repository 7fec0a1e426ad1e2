"""Routes of seed A "User Profiles"."""

from __future__ import annotations

from api.deps import Deps
from api.errors import Conflict, InvalidRequest, NotFound, ProfileLimitReached
from api.http import Request, Response, Route, json_response
from api.profiles import service
from api.profiles.cache import bump_version
from api.profiles.models import CreateProfile, ProfileList, ProfileView, UpdateProfile
from api.wire import decode


def routes(deps: Deps) -> list[Route]:
    base_url = deps.settings.public_base_url

    async def list_profiles(req: Request) -> Response:
        found = await service.list_for(deps.db, account_id=req.account_id)
        return json_response(ProfileList([ProfileView.of(p) for p in found]))

    async def create(req: Request) -> Response:
        body = decode(req.body, CreateProfile)
        profile = await service.create(
            deps.db, account_id=req.account_id, body=body, base_url=base_url
        )
        return json_response(ProfileView.of(profile), status=201)

    async def get(req: Request) -> Response:
        profile = await service.get(
            deps.db, account_id=req.account_id, profile_id=req.path_params["profile_id"]
        )
        return json_response(ProfileView.of(profile))

    async def update(req: Request) -> Response:
        body = decode(req.body, UpdateProfile)
        await bump_version(deps.redis, req.account_id)
        try:
            profile = await service.update(
                deps.db,
                account_id=req.account_id,
                profile_id=req.path_params["profile_id"],
                body=body,
            )
        finally:  # even a failed write may have landed: cached copies must be re-read
            await bump_version(deps.redis, req.account_id)
        return json_response(ProfileView.of(profile))

    async def delete(req: Request) -> Response:
        await bump_version(deps.redis, req.account_id)
        try:
            await service.delete(
                deps.db, account_id=req.account_id, profile_id=req.path_params["profile_id"]
            )
        finally:
            await bump_version(deps.redis, req.account_id)
        return Response(status=204)

    one = "/v1/users/profiles/{profile_id}"
    return [
        Route(
            "GET",
            "/v1/users/profiles",
            list_profiles,
            rate_class="content",
            summary="The account's profiles",
            responses={200: ProfileList},
        ),
        Route(
            "POST",
            "/v1/users/profiles",
            create,
            rate_class="content",
            summary="Create a profile (at most 5 per account)",
            body=CreateProfile,
            responses={201: ProfileView},
            errors=(InvalidRequest, NotFound, ProfileLimitReached),
        ),
        Route(
            "GET",
            one,
            get,
            rate_class="content",
            summary="One of the account's profiles",
            responses={200: ProfileView},
            errors=(NotFound,),
        ),
        Route(
            "PUT",
            one,
            update,
            rate_class="content",
            summary="Change a profile's fields (omitted ones keep their value)",
            body=UpdateProfile,
            responses={200: ProfileView},
            errors=(NotFound, Conflict),
        ),
        Route(
            "DELETE",
            one,
            delete,
            rate_class="content",
            summary="Delete a profile (an account keeps at least one)",
            responses={204: None},
            errors=(NotFound, Conflict),
        ),
    ]
