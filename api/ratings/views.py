"""Seed B ratings: rate (or re-rate) a title, list a profile's ratings, remove one."""

from __future__ import annotations

from typing import Annotated

import msgspec

from api.catalog import service as catalog
from api.catalog.access import viewer_for
from api.deps import Deps
from api.errors import NotFound
from api.http import Request, Response, Route, json_response
from api.ratings import service
from api.wire import RequestBody, ResponseBody, decode
from core import trending


class RateTitle(RequestBody, kw_only=True):
    title_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    rating: service.Thumbs


class RatingView(ResponseBody, kw_only=True):
    title_id: str
    rating: str
    rated_at_ms: int


class Ratings(ResponseBody, kw_only=True):
    ratings: list[RatingView]


class Rated(ResponseBody, kw_only=True):
    ok: bool
    title_id: str
    rating: str | None


def routes(deps: Deps) -> list[Route]:
    async def rate(req: Request) -> Response:
        body = decode(req.body, RateTitle)
        viewer, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        catalog.title_for(await deps.catalog.ready(), viewer, body.title_id)
        await service.put(
            deps.db,
            account_id=req.account_id,
            profile_id=profile.id,
            title_id=body.title_id,
            rating=body.rating,
        )
        if body.rating != "thumbs_down":
            await trending.record(deps.redis, body.title_id, body.rating)
        return json_response(Rated(ok=True, title_id=body.title_id, rating=body.rating))

    async def list_ratings(req: Request) -> Response:
        _, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        found = await service.for_profile(deps.db, profile_id=profile.id)
        views = [
            RatingView(
                title_id=r.title_id, rating=r.rating, rated_at_ms=int(r.rated_at.timestamp() * 1000)
            )
            for r in found
        ]
        return json_response(Ratings(ratings=views))

    async def unrate(req: Request) -> Response:
        _, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        title_id = req.path_params["title_id"]
        await service.remove(deps.db, profile_id=profile.id, title_id=title_id)
        return json_response(Rated(ok=True, title_id=title_id, rating=None))

    ratings = "/v1/profiles/{profile_id}/ratings"
    return [
        Route(
            "POST",
            ratings,
            rate,
            rate_class="content",
            summary="Rate (or re-rate) a title",
            body=RateTitle,
            responses={200: Rated},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            ratings,
            list_ratings,
            rate_class="content",
            summary="The profile's ratings",
            responses={200: Ratings},
            errors=(NotFound,),
        ),
        Route(
            "DELETE",
            ratings + "/{title_id}",
            unrate,
            rate_class="content",
            summary="Remove a rating",
            responses={200: Rated},
            errors=(NotFound,),
        ),
    ]
