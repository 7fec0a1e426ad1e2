"""Playback decisions: which asset, may this profile play it here, and the shard's say on limits.

The order of checks is the contract's: profile ownership (done by the caller) → title exists and
is published → available in the viewer's country (decided by the service; a client-declared
country only narrows it) → the profile's maturity → concurrency,
which only the account's shard can decide (so two devices racing for the last slot cannot
both win).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from api.accounts.models import STREAM_LIMIT
from api.activity import history
from api.catalog.models import Title
from api.catalog.responses import Pagination
from api.catalog.snapshot import CatalogSnapshot, Viewer
from api.deps import Deps
from api.errors import (
    InvalidRequest,
    MaturityRestricted,
    NotAvailableInRegion,
    NotFound,
    ServiceUnavailable,
    SessionNotFound,
    StreamLimitReached,
)
from api.http import Principal
from api.maturity import allows
from api.playback.models import Cdn, Drm, History, HistoryItem, Manifest, SessionCreated
from api.profiles.models import Profile
from api.wire import iso
from core import signing
from core.protocol import (
    REROUTE,
    AnyOp,
    AnyResult,
    Done,
    GetSession,
    Heartbeat,
    PlaybackState,
    Position,
    Refused,
    Session,
    StartSession,
    StopSession,
)
from core.shards import ShardUnavailable

MANIFEST_TTL_S = 120
HEARTBEAT_INTERVAL_S = 10


def now_ms() -> int:
    return int(time.time() * 1000)


async def call_shard(deps: Deps, op: AnyOp) -> AnyResult:
    """``op`` decided by its account's shard; 503 (with Retry-After) while it cannot be."""
    if deps.shards is None:
        raise ServiceUnavailable("Playback is not available on this replica")
    try:
        result = await deps.shards.call(op)
    except ShardUnavailable:
        raise ServiceUnavailable("Playback state is recovering; retry shortly") from None
    if isinstance(result, Refused) and result.code in REROUTE:
        raise ServiceUnavailable("Playback state is moving between shards; retry shortly")
    return result


def asset_duration_ms(title: Title, asset_id: str) -> int | None:
    if title.asset_id == asset_id:
        return title.duration_s * 1000
    for season in title.seasons:
        for episode in season.episodes:
            if episode.asset_id == asset_id:
                return episode.duration_s * 1000
    return None


def _episodes(title: Title) -> list[str]:
    return [e.asset_id for season in title.seasons for e in season.episodes]


async def stored_resume(deps: Deps, profile_id: str, asset_id: str) -> int:
    """Where MongoDB's copy of the profile's progress resumes ``asset_id`` (0: from the start)."""
    stored = await history.viewing(deps.db, profile_id=profile_id, asset_id=asset_id)
    return stored.position_ms if stored and not stored.watched else 0


async def next_up(deps: Deps, title: Title, profile_id: str) -> tuple[str, int]:
    """The asset to play for a title, and where to resume: a movie's own asset; for a series,
    the episode in progress, else the one after the last finished, else the first."""
    if title.type != "series":
        assert title.asset_id is not None
        return title.asset_id, await stored_resume(deps, profile_id, title.asset_id)
    viewings = [
        v for v in await history.recent(deps.db, profile_id=profile_id) if v.title_id == title.id
    ]
    episodes = _episodes(title)
    if not episodes:
        raise NotFound("This series has no episodes yet")
    if not viewings:
        return episodes[0], 0
    latest = viewings[0]  # newest first
    if not latest.watched and latest.asset_id in episodes:
        return latest.asset_id, latest.position_ms
    following = episodes.index(latest.asset_id) + 1 if latest.asset_id in episodes else 0
    return episodes[min(following, len(episodes) - 1)], 0


async def asset_to_play(
    deps: Deps, snapshot: CatalogSnapshot, title: Title, content_id: str, profile: Profile | None
) -> str:
    """Seed A's content id names an asset, or a title: a movie's asset, a series' next-up
    episode for the profile (its first episode when no profile is named)."""
    if content_id in snapshot.asset_owner:
        return content_id
    if profile is not None:
        return (await next_up(deps, title, profile.id))[0]
    if title.type != "series" and title.asset_id is not None:
        return title.asset_id
    episodes = _episodes(title)
    if not episodes:
        raise NotFound("This series has no episodes yet")
    return episodes[0]


def playable_title(
    snapshot: CatalogSnapshot,
    title_id: str,
    profile: Profile | None,
    country: str,
    declared_country: str | None = None,
) -> Title:
    """Title exists and is published → available in ``country`` → within the profile's cap
    (no profile: the account's own view, as the catalog routes show it without one).

    ``country`` is the one the service decided; a ``declared_country`` from the client may only
    narrow it: the title must be available in both.
    """
    pos = snapshot.by_id.get(title_id)
    if pos is None and (owner := snapshot.asset_owner.get(title_id)) is not None:
        pos = owner  # seed A's streaming routes accept an asset id too
    if pos is None or not snapshot.published[pos]:
        raise NotFound("Title not found")
    for where in (country, declared_country):
        if where is not None and not snapshot.available_in(pos, where):
            raise NotAvailableInRegion(f"Not available in {where}", details="country")
    title = snapshot.titles[pos]
    if profile is not None and not allows(profile.maturity_rating, title.maturity_rating):
        raise MaturityRestricted(
            f"{title.maturity_rating} is above this profile's {profile.maturity_rating}",
            details="maturity_rating",
        )
    return title


@dataclass(frozen=True, slots=True)
class Started:
    session: Session
    title: Title
    resume_ms: int


async def start(
    deps: Deps,
    *,
    principal: Principal,
    profile: Profile,
    title_id: str,
    asset_id: str | None,
    device_id: str,
    platform: str,
    country: str,
    declared_country: str | None = None,
) -> Started:
    snapshot = await deps.catalog.ready()
    title = playable_title(snapshot, title_id, profile, country, declared_country)
    if asset_id is None and title_id in snapshot.asset_owner:
        asset_id = title_id
    resumes = asset_id is None  # a chosen asset starts at 0; a title resumes where it was
    # A movie's resume position is read after the shard call, and from MongoDB only when the
    # shard holds none for it (a restart mostly finds it buffered there, fresher anyway); a
    # series needs the profile's history to pick its episode first.
    resume_ms: int | None = 0
    if asset_id is None and title.type != "series":
        assert title.asset_id is not None
        asset_id, resume_ms = title.asset_id, None
    elif asset_id is None:
        asset_id, resume_ms = await next_up(deps, title, profile.id)
    duration_ms = asset_duration_ms(title, asset_id)
    if duration_ms is None:
        raise NotFound("That asset is not part of this title", details="asset_id")
    result = await call_shard(
        deps,
        StartSession(
            account_id=principal.account_id,
            now_ms=now_ms(),
            session_id=f"ps_{secrets.token_hex(10)}",
            profile_id=profile.id,
            title_id=title.id,
            asset_id=asset_id,
            device_id=device_id,
            platform=platform,
            max_streams=STREAM_LIMIT.get(principal.plan, 1),
            lease_ttl_ms=deps.settings.lease_ttl_s * 1000,
            duration_ms=duration_ms,
        ),
    )
    if isinstance(result, Refused):
        limit = STREAM_LIMIT.get(principal.plan, 1)
        raise StreamLimitReached(
            f"Your {principal.plan} plan allows {limit} stream(s) at a time",
            details=[
                {
                    "session_id": s.session_id,
                    "device_id": s.device_id,
                    "platform": s.platform,
                    "profile_id": s.profile_id,
                    "title_id": s.title_id,
                    "started_at": iso(datetime.fromtimestamp(s.started_at_ms / 1000, UTC)),
                }
                for s in result.active
            ],
        )
    assert isinstance(result, Done) and result.session is not None
    if resumes and result.progress is not None:  # fresher than MongoDB's copy
        resume_ms = 0 if result.progress.watched else result.progress.position_ms
    elif resume_ms is None:
        resume_ms = await stored_resume(deps, profile.id, asset_id)
    return Started(result.session, title, resume_ms)  # (the shard counted the play for trending)


async def progress(
    deps: Deps,
    *,
    account_id: str,
    profile_id: str,
    title_id: str,
    asset_id: str,
    position_ms: int,
    state: PlaybackState,
    client_ts_ms: int | None,
    session_id: str | None,
) -> bool:
    """Buffer one update in the account's shard (journaled before this returns)."""
    snapshot = await deps.catalog.ready()
    title = snapshot.get(title_id)
    duration_ms = asset_duration_ms(title, asset_id) if title else None
    if title is None or duration_ms is None:
        raise NotFound("Unknown title or asset", details="asset_id")
    if position_ms > duration_ms:
        raise InvalidRequest(
            "Position is past the end of the asset", details=f"position_ms: at most {duration_ms}"
        )
    arrival = now_ms()
    result = await call_shard(
        deps,
        Heartbeat(
            account_id=account_id,
            now_ms=arrival,
            position=Position(
                profile_id=profile_id,
                title_id=title.id,
                asset_id=asset_id,
                position_ms=position_ms,
                duration_ms=duration_ms,
                state=state,
                client_ts_ms=client_ts_ms if client_ts_ms is not None else arrival,
            ),
            session_id=session_id,
            lease_ttl_ms=deps.settings.lease_ttl_s * 1000,
        ),
    )
    assert isinstance(result, Done)
    if result.finished:  # the shard saw this update make the asset watched (and counted it)
        await history.record_cowatch(deps.db, deps.redis, profile_id=profile_id, title_id=title.id)
    return result.accepted


async def _session_op(deps: Deps, account_id: str, op: GetSession | StopSession) -> Session:
    """Send a get or stop; the account's active session it found, or 404."""
    result = await call_shard(deps, op)
    if not isinstance(result, Done) or result.session is None:
        raise SessionNotFound()
    return result.session


async def session(deps: Deps, *, account_id: str, session_id: str) -> Session:
    """An active session of this account, or 404."""
    op = GetSession(account_id=account_id, now_ms=now_ms(), session_id=session_id)
    return await _session_op(deps, account_id, op)


async def stop(deps: Deps, *, account_id: str, session_id: str) -> Session:
    op = StopSession(account_id=account_id, now_ms=now_ms(), session_id=session_id)
    return await _session_op(deps, account_id, op)


# -- what the views answer ---------------------------------------------------------------------


def session_created(deps: Deps, started: Started) -> SessionCreated:
    """What a client needs to play a started session: a signed manifest URL, the license
    server and its token, the lease and heartbeat cadence, where to resume."""
    settings = deps.settings
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


@dataclass(frozen=True)
class ProgressTarget:
    title_id: str
    asset_id: str
    session_id: str | None


async def progress_target(
    deps: Deps, *, account_id: str, profile_id: str, content_id: str, session_id: str | None
) -> ProgressTarget:
    """Which asset a seed A progress report (``/v1/streaming/{content_id}/progress``) is about:
    the session's when it names a live one, else the asset id given in place of the title id
    (seed A allows it), else a series' next-up episode or a movie's main asset."""
    snapshot = await deps.catalog.ready()
    title = snapshot.get(content_id)
    playing = None
    if session_id is not None:  # the session knows exactly which asset is playing
        with contextlib.suppress(SessionNotFound):  # expired: the position still counts
            playing = await session(deps, account_id=account_id, session_id=session_id)
    if playing is not None:
        asset_id = playing.asset_id
    elif title is None:
        asset_id = content_id
    elif title.type == "series":
        asset_id = (await next_up(deps, title, profile_id))[0]
    else:
        asset_id = title.asset_id or ""
    if title is None and (owner := snapshot.asset_owner.get(asset_id)) is not None:
        title = snapshot.titles[owner]
    return ProgressTarget(
        title_id=title.id if title else content_id,
        asset_id=asset_id,
        session_id=playing.session_id if playing else None,
    )


async def history_page(
    deps: Deps, viewer: Viewer, profile_id: str, *, page: int, limit: int
) -> History:
    """Seed A's viewing history: the profile's recent viewings of titles the viewer may still
    see (region, maturity), newest first, one page of them."""
    snapshot = await deps.catalog.ready()
    visible = snapshot.visible(viewer)
    items = []
    for viewing in await history.recent(deps.db, profile_id=profile_id, limit=1000):
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
    return History(
        profile_id=profile_id,
        history=items[Pagination.window(page, limit)],
        pagination=Pagination.of(page, limit, len(items)),
    )
