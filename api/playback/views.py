"""Playback routes: seed B's sessions and progress, seed A's streaming start/progress/stop and
viewing history. All of them reach the account's shard through the group commit."""

from __future__ import annotations

from api import params
from api.activity import history
from api.catalog.access import viewer_for
from api.deps import Deps
from api.errors import (
    InvalidRequest,
    MaturityRestricted,
    NotAvailableInRegion,
    NotFound,
    SessionNotFound,
    StreamLimitReached,
)
from api.http import Request, Response, Route, json_response
from api.playback import service
from api.playback.models import (
    CreateSession,
    History,
    Ok,
    ProgressAccepted,
    ProgressUpdate,
    SessionCreated,
    StreamingProgress,
    StreamingStart,
    StreamingStarted,
    StreamingStop,
)
from api.wire import decode

# The session checks, in order: profile, title/asset, region, maturity, concurrency.
START_ERRORS = (NotFound, NotAvailableInRegion, MaturityRestricted, StreamLimitReached)


def routes(deps: Deps) -> list[Route]:
    async def create_session(req: Request) -> Response:
        body = decode(req.body, CreateSession)
        viewer, profile = await viewer_for(deps, req, body.profile_id)
        assert profile is not None
        started = await service.start(
            deps,
            principal=req.principal,  # type: ignore[arg-type]
            profile=profile,
            title_id=body.title_id,
            asset_id=body.asset_id,
            device_id=body.device.device_id,
            platform=body.device.platform,
            country=viewer.country,
            declared_country=body.network.country if body.network else None,
        )
        return json_response(service.session_created(deps, started), status=201)

    async def put_progress(req: Request) -> Response:
        body = decode(req.body, ProgressUpdate)
        _, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        accepted = await service.progress(
            deps,
            account_id=req.account_id,
            profile_id=profile.id,
            title_id=body.title_id,
            asset_id=body.asset_id,
            position_ms=body.position_ms,
            state=body.state,
            client_ts_ms=body.ts_ms,
            session_id=body.session_id,
        )
        return json_response(ProgressAccepted(accepted=accepted))

    async def streaming_start(req: Request) -> Response:
        body = decode(req.body, StreamingStart)
        viewer, profile = await viewer_for(deps, req, body.profile_id)
        assert profile is not None
        started = await service.start(
            deps,
            principal=req.principal,  # type: ignore[arg-type]
            profile=profile,
            title_id=req.path_params["content_id"],
            asset_id=body.asset_id,
            device_id=body.device_id or f"{body.device_type}-default",
            platform=body.device_type,
            country=viewer.country,
        )
        created = service.session_created(deps, started)
        return json_response(
            StreamingStarted(
                session_id=created.session_id,
                content_id=started.title.id,
                asset_id=created.asset_id,
                profile_id=created.profile_id,
                quality=body.quality,
                manifest_url=created.manifest.url,
                drm_license_url=created.drm.license_server_url,
                license_token=created.drm.license_token,
                resume_position=created.resume_position_ms // 1000,
                heartbeat_interval_sec=service.HEARTBEAT_INTERVAL_S,
            ),
            status=201,
        )

    async def streaming_progress(req: Request) -> Response:
        body = decode(req.body, StreamingProgress)
        _, profile = await viewer_for(deps, req, body.profile_id)
        assert profile is not None
        target = await service.progress_target(
            deps,
            account_id=req.account_id,
            profile_id=profile.id,
            content_id=req.path_params["content_id"],
            session_id=body.session_id,
        )
        accepted = await service.progress(
            deps,
            account_id=req.account_id,
            profile_id=profile.id,
            title_id=target.title_id,
            asset_id=target.asset_id,
            position_ms=int(body.position * 1000),
            state=body.state,
            client_ts_ms=body.timestamp_ms,
            session_id=target.session_id,
        )
        return json_response(ProgressAccepted(accepted=accepted))

    async def streaming_stop(req: Request) -> Response:
        body = decode(req.body, StreamingStop)
        session = await service.stop(deps, account_id=req.account_id, session_id=body.session_id)
        if body.position is not None:
            await service.progress(
                deps,
                account_id=req.account_id,
                profile_id=session.profile_id,
                title_id=session.title_id,
                asset_id=session.asset_id,
                position_ms=int(body.position * 1000),
                state="paused",
                client_ts_ms=None,
                session_id=None,
            )
        return json_response(Ok())

    async def get_history(req: Request) -> Response:
        viewer, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        page = params.integer(req, "page", default=1, low=1, high=10_000)
        limit = params.integer(req, "limit", default=20, low=1, high=100)
        return json_response(
            await service.history_page(deps, viewer, profile.id, page=page, limit=limit)
        )

    async def delete_history(req: Request) -> Response:
        _, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        await history.hide(deps.db, profile_id=profile.id, title_id=req.path_params["content_id"])
        return Response(status=204)

    return [
        Route(
            "POST",
            "/v1/playback/sessions",
            create_session,
            priority="critical",
            rate_class="streaming",
            summary="Start a playback session (seed B): manifest, license token, lease",
            body=CreateSession,
            responses={201: SessionCreated},
            errors=START_ERRORS,
        ),
        Route(
            "PUT",
            "/v1/profiles/{profile_id}/progress",
            put_progress,
            priority="high",
            rate_class="streaming",
            summary="Report the playback position (seed B); renews the session's lease",
            body=ProgressUpdate,
            responses={200: ProgressAccepted},
            errors=(NotFound, InvalidRequest),
        ),
        Route(
            "POST",
            "/v1/streaming/{content_id}/start",
            streaming_start,
            priority="critical",
            rate_class="streaming",
            summary="Start streaming a title or an asset (seed A)",
            body=StreamingStart,
            responses={201: StreamingStarted},
            errors=START_ERRORS,
        ),
        Route(
            "PUT",
            "/v1/streaming/{content_id}/progress",
            streaming_progress,
            priority="high",
            rate_class="streaming",
            summary="Report the playback position (seed A, seconds)",
            body=StreamingProgress,
            responses={200: ProgressAccepted},
            errors=(NotFound, InvalidRequest),
        ),
        Route(
            "POST",
            "/v1/streaming/{content_id}/stop",
            streaming_stop,
            priority="high",
            rate_class="streaming",
            summary="Stop a session, freeing its stream slot",
            body=StreamingStop,
            responses={200: Ok},
            errors=(SessionNotFound, NotFound),
        ),
        Route(
            "GET",
            "/v1/users/profiles/{profile_id}/history",
            get_history,
            rate_class="content",
            summary="The profile's viewing history, newest first",
            params=(
                params.int_param("page", low=1, high=10_000),
                params.int_param("limit", low=1, high=100),
            ),
            responses={200: History},
            errors=(NotFound,),
        ),
        Route(
            "DELETE",
            "/v1/users/profiles/{profile_id}/history/{content_id}",
            delete_history,
            rate_class="content",
            summary="Hide a title from the viewing history",
            responses={204: None},
            errors=(NotFound,),
        ),
    ]
