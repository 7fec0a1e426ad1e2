"""Player telemetry (seed B ``POST /v1/playback/events``), seed A analytics events, and seed A's
viewing statistics.

Events go through the account's shard like heartbeats: a QoE event renews the session's lease
and updates its counters; both kinds are journaled before the 202 and bulk-inserted into
MongoDB ``events`` with the shard's next flush.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from api.activity import history
from api.catalog.access import viewer_for
from api.deps import Deps
from api.errors import NotFound, SessionNotFound
from api.http import Request, Response, Route, json_response
from api.playback.models import EventAccepted, Ok, ViewingStats
from api.playback.service import call_shard, now_ms
from api.wire import EpochMillis, RequestBody, decode
from core.protocol import AnalyticsEvent, PlayerEvent, Refused

Count = Annotated[int, msgspec.Meta(ge=0, le=10**9)]
PlayerEventName = Literal[
    "start",
    "play",
    "pause",
    "resume",
    "seek",
    "rebuffer_start",
    "rebuffer_end",
    "bitrate_change",
    "error",
    "end",
    "heartbeat",
]
# Seed A's analytics events: a documented closed set (CONTRACT § Analytics, README); anything
# else is 400 naming ``event_type``, so a typo in a client cannot pollute the numbers unseen.
AnalyticsEventName = Literal[
    "video_play",
    "video_pause",
    "video_resume",
    "video_seek",
    "video_stop",
    "video_complete",
    "video_buffering",
    "video_quality_change",
    "video_error",
    "title_view",
    "search",
    "add_to_list",
    "remove_from_list",
    "rating",
    "page_view",
]


class Metrics(RequestBody, kw_only=True):
    bitrate_kbps: Count | None = None
    buffer_ms: Count | None = None
    position_ms: Count | None = None
    dropped_frames: Count | None = None
    startup_ms: Count | None = None
    error_code: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class PlaybackEventBody(RequestBody, kw_only=True):
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    ts_ms: EpochMillis
    event: PlayerEventName
    metrics: Metrics = msgspec.field(default_factory=Metrics)


class AnalyticsMetadata(RequestBody, kw_only=True):
    device_type: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    quality: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    position: Annotated[float, msgspec.Meta(ge=0, le=10**7)] | None = None


class AnalyticsEventBody(RequestBody, kw_only=True):
    event_type: AnalyticsEventName
    profile_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    content_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    timestamp: datetime
    metadata: AnalyticsMetadata = msgspec.field(default_factory=AnalyticsMetadata)


def routes(deps: Deps) -> list[Route]:
    async def playback_event(req: Request) -> Response:
        body = decode(req.body, PlaybackEventBody)
        result = await call_shard(
            deps,
            PlayerEvent(
                account_id=req.account_id,
                now_ms=now_ms(),
                session_id=body.session_id,
                event=body.event,
                ts_ms=body.ts_ms,
                metrics={
                    k: v for k, v in msgspec.structs.asdict(body.metrics).items() if v is not None
                },
                lease_ttl_ms=deps.settings.lease_ttl_s * 1000,
            ),
        )
        if isinstance(result, Refused):
            raise SessionNotFound()
        return json_response({"ok": True}, status=202)

    async def analytics_event(req: Request) -> Response:
        body = decode(req.body, AnalyticsEventBody)
        _, profile = await viewer_for(deps, req, body.profile_id)
        assert profile is not None
        event_id = f"ev_{secrets.token_hex(10)}"
        metadata = {k: v for k, v in msgspec.structs.asdict(body.metadata).items() if v is not None}
        await call_shard(
            deps,
            AnalyticsEvent(
                account_id=req.account_id,
                now_ms=now_ms(),
                event_id=event_id,
                profile_id=profile.id,
                event_type=body.event_type,
                content_id=body.content_id,
                ts_ms=int(body.timestamp.timestamp() * 1000),
                metadata=metadata,
            ),
        )
        return json_response({"ok": True, "event_id": event_id}, status=202)

    async def viewing_stats(req: Request) -> Response:
        _, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        snapshot = await deps.catalog.ready()
        by_genre: dict[str, int] = defaultdict(int)
        by_day: dict[str, int] = defaultdict(int)
        watch_ms = 0
        titles_finished: set[str] = set()
        episodes_finished = 0
        viewings = await history.recent(deps.db, profile_id=profile.id, limit=10_000)
        for viewing in viewings:
            watched_ms = viewing.duration_ms if viewing.watched else viewing.position_ms
            watch_ms += watched_ms
            by_day[viewing.updated_at.date().isoformat()] += watched_ms
            title = snapshot.get(viewing.title_id)
            for genre in title.genres if title else []:
                by_genre[genre] += watched_ms
            if viewing.watched and title is not None:
                if title.type == "series":
                    episodes_finished += 1
                else:
                    titles_finished.add(title.id)
        return json_response(
            {
                "profile_id": profile.id,
                "total_watch_time_seconds": watch_ms // 1000,
                "titles_started": len({v.title_id for v in viewings}),
                "titles_finished": len(titles_finished),
                "episodes_finished": episodes_finished,
                "by_genre": {
                    g: ms // 1000 for g, ms in sorted(by_genre.items(), key=lambda i: -i[1])
                },
                "by_day": {d: ms // 1000 for d, ms in sorted(by_day.items())},
            }
        )

    return [
        Route(
            "POST",
            "/v1/playback/events",
            playback_event,
            rate_class="streaming",
            summary="Player telemetry (seed B); renews the session's lease",
            body=PlaybackEventBody,
            responses={202: Ok},
            errors=(SessionNotFound,),
        ),
        Route(
            "POST",
            "/v1/analytics/events",
            analytics_event,
            rate_class="analytics",
            summary="An analytics event (seed A), from a closed set of types",
            body=AnalyticsEventBody,
            responses={202: EventAccepted},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            "/v1/analytics/viewing-stats/{profile_id}",
            viewing_stats,
            rate_class="analytics",
            summary="A profile's viewing statistics (seed A)",
            responses={200: ViewingStats},
            errors=(NotFound,),
        ),
    ]
