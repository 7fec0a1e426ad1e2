"""Playback routes: seed B's sessions and progress, seed A's streaming start/progress/stop and
viewing history. All of them reach the account's shard through the group commit."""

from __future__ import annotations

import contextlib
import time

from api import params
from api.activity import history
from api.catalog.access import viewer_for
from api.catalog.responses import Pagination
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
    Cdn,
    CreateSession,
    Drm,
    Manifest,
    Ok,
    ProgressAccepted,
    ProgressUpdate,
    SessionCreated,
    StreamingProgress,
    StreamingStart,
    StreamingStarted,
    StreamingStop,
)
from api.wire import ResponseBody, decode, iso
from core import signing

MANIFEST_TTL_S = 120
# The session checks, in order: profile, title/asset, region, maturity, concurrency.
START_ERRORS = (NotFound, NotAvailableInRegion, MaturityRestricted, StreamLimitReached)
HEARTBEAT_INTERVAL_S = 10


class HistoryItem(ResponseBody, kw_only=True):
    content_id: str
    title: str
    type: str
    asset_id: str
    position: int  # seconds, seed A style
    duration: int
    progress: float
    watched: bool
    last_watched_at: str
    thumbnail_url: str


class History(ResponseBody, kw_only=True):
    profile_id: str
    history: list[HistoryItem]
    pagination: Pagination


def routes(deps: Deps) -> list[Route]:
    settings = deps.settings

    def session_body(started: service.Started) -> SessionCreated:
        session = started.session
        expires = int(time.time()) + MANIFEST_TTL_S
        url = signing.asset_url(
            deps.media_key,
            settings.media_base_url,
            session.asset_id,
            "manifest.mpd",
            session.session_id,
            expires,
        )
        return SessionCreated(
            session_id=session.session_id,
            manifest=Manifest(type="dash", url=url, expires_in_sec=MANIFEST_TTL_S),
            drm=Drm(
                license_server_url=f"{settings.public_base_url}/v1/drm/licenses",
                license_token=signing.license_token(
                    deps.media_key, session.session_id, session.account_id
                ),
                key_system="org.w3.clearkey",
            ),
            cdn=Cdn(provider="origin", region="local"),
            title_id=session.title_id,
            asset_id=session.asset_id,
            profile_id=session.profile_id,
            lease_ttl_sec=settings.lease_ttl_s,
            heartbeat_interval_sec=HEARTBEAT_INTERVAL_S,
            resume_position_ms=started.resume_ms,
        )

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
        return json_response(session_body(started), status=201)

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
        created = session_body(started)
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
                heartbeat_interval_sec=HEARTBEAT_INTERVAL_S,
            ),
            status=201,
        )

    async def streaming_progress(req: Request) -> Response:
        body = decode(req.body, StreamingProgress)
        _, profile = await viewer_for(deps, req, body.profile_id)
        assert profile is not None
        content_id = req.path_params["content_id"]
        snapshot = await deps.catalog.ready()
        title = snapshot.get(content_id)
        playing = None
        if body.session_id is not None:  # the session knows exactly which asset is playing
            with contextlib.suppress(SessionNotFound):  # expired: the position still counts
                playing = await service.session(
                    deps, account_id=req.account_id, session_id=body.session_id
                )
        if playing is not None:
            asset_id = playing.asset_id
        elif title is None:
            asset_id = content_id  # seed A allows an asset id in place of the title id
        elif title.type == "series":
            asset_id = (await service.next_up(deps, title, profile.id))[0]
        else:
            asset_id = title.asset_id or ""
        if title is None and (owner := snapshot.asset_owner.get(asset_id)) is not None:
            title = snapshot.titles[owner]
        accepted = await service.progress(
            deps,
            account_id=req.account_id,
            profile_id=profile.id,
            title_id=title.id if title else content_id,
            asset_id=asset_id,
            position_ms=int(body.position * 1000),
            state=body.state,
            client_ts_ms=body.timestamp_ms,
            session_id=playing.session_id if playing else None,
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
        snapshot = await deps.catalog.ready()
        visible = snapshot.visible(viewer)
        items = []
        for viewing in await history.recent(deps.db, profile_id=profile.id, limit=1000):
            pos = snapshot.by_id.get(viewing.title_id)
            if pos is None or not visible[pos]:
                continue
            title = snapshot.titles[pos]
            items.append(
                HistoryItem(
                    content_id=title.id,
                    title=title.name,
                    type=title.type,
                    asset_id=viewing.asset_id,
                    position=viewing.position_ms // 1000,
                    duration=viewing.duration_ms // 1000,
                    progress=round(viewing.position_ms / max(1, viewing.duration_ms), 4),
                    watched=viewing.watched,
                    last_watched_at=iso(viewing.updated_at),
                    thumbnail_url=title.artwork.thumbnail,
                )
            )
        start = (page - 1) * limit
        return json_response(
            History(
                profile_id=profile.id,
                history=items[start : start + limit],
                pagination=Pagination(
                    page=page, limit=limit, total=len(items), has_next=start + limit < len(items)
                ),
            )
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
