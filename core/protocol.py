"""What crosses the ingress → shard boundary: a batch of ops in, a batch of results out.

Both are tagged unions encoded with msgpack, so one group-commit call carries one bytes payload
instead of pickled Python objects. Times are epoch milliseconds, stamped by the ingress.
"""

from __future__ import annotations

from typing import Literal

import msgspec

PlaybackState = Literal["playing", "paused", "finished"]


def progress_id(profile_id: str, asset_id: str) -> str:
    """The ``_id`` of a profile's progress document for one asset."""
    return f"{profile_id}:{asset_id}"


class Op(msgspec.Struct, tag_field="op", forbid_unknown_fields=True):
    account_id: str
    now_ms: int


class StartSession(Op, tag="start", kw_only=True):
    session_id: str
    profile_id: str
    title_id: str
    asset_id: str
    device_id: str
    platform: str
    max_streams: int
    lease_ttl_ms: int
    duration_ms: int


WATCHED_FRACTION = 0.95  # a position at or past this share of the asset counts as watched


class Position(msgspec.Struct, kw_only=True):
    """Where a profile is in one asset, as its player reported it: the one shape of a progress
    update. A heartbeat carries it to the shard (:class:`Heartbeat`); the shard buffers and
    journals it with what it decided (:class:`Progress`, the same fields and a few more); the
    flush writes those fields to MongoDB and the viewing history reads them back
    (``api.activity.history.Viewing``, again a Position)."""

    profile_id: str
    title_id: str
    asset_id: str
    position_ms: int
    duration_ms: int
    state: PlaybackState
    client_ts_ms: int  # the player's clock: last write wins by this, never by arrival

    def reaches_watched(self) -> bool:
        """The 95 % rule: finished, or at or past 95 % of the asset."""
        return self.state == "finished" or (
            self.duration_ms > 0 and self.position_ms >= WATCHED_FRACTION * self.duration_ms
        )


class Heartbeat(Op, tag="beat", kw_only=True):
    """A progress update; renews the lease of the session it belongs to, if any."""

    position: Position
    session_id: str | None = None
    lease_ttl_ms: int = 60_000


class Touch(Op, tag="touch", kw_only=True):
    """A playback event: proves the session is alive, renews its lease."""

    session_id: str
    lease_ttl_ms: int


class PlayerEvent(Op, tag="event", kw_only=True):
    """A QoE event: renews the lease, updates the session's counters, is stored in bulk."""

    session_id: str
    event: str
    ts_ms: int
    metrics: dict[str, float | int | str]
    lease_ttl_ms: int


class AnalyticsEvent(Op, tag="analytics", kw_only=True):
    """Seed A's interaction event: no session involved, only stored (in bulk)."""

    event_id: str
    profile_id: str
    event_type: str
    content_id: str | None
    ts_ms: int
    metadata: dict[str, float | int | str | bool | None]


class StopSession(Op, tag="stop", kw_only=True):
    session_id: str


class GetSession(Op, tag="get", kw_only=True):
    session_id: str


AnyOp = StartSession | Heartbeat | Touch | PlayerEvent | AnalyticsEvent | StopSession | GetSession


class Session(msgspec.Struct, kw_only=True):
    session_id: str
    account_id: str
    profile_id: str
    title_id: str
    asset_id: str
    device_id: str
    platform: str
    started_at_ms: int
    lease_expires_ms: int
    duration_ms: int
    position_ms: int = 0
    state: str = "starting"
    heartbeats: int = 0
    # QoE counters, from player events
    events: int = 0
    rebuffers: int = 0
    rebuffer_ms: int = 0
    rebuffering_since_ms: int | None = None
    bitrate_changes: int = 0
    bitrate_kbps: int = 0
    errors: int = 0


class Progress(Position, kw_only=True):
    """The latest accepted :class:`Position` of one profile in one asset, what the buffer
    coalesces to, with what the shard decided about it. (Flat, a subclass rather than a
    wrapper: the journal's entries keep the same encoding.)"""

    account_id: str
    updated_at_ms: int  # arrival, by the ingress's clock
    watched: bool  # :meth:`Position.reaches_watched` when accepted
    version: int = 0  # bumps on every accepted update; the flush deletes what it wrote


class Result(msgspec.Struct, tag_field="result"):
    pass


class Done(Result, tag="ok", kw_only=True):
    session: Session | None = None
    accepted: bool = True  # False: an older (or replayed) progress update, ignored
    finished: bool = False  # this update made the asset watched (once, not every beat past 95 %)
    # A started session's asset as the shard last heard of it: fresher than MongoDB, which a
    # still-playing position reaches only every PROGRESS_PERSIST_S.
    progress: Progress | None = None


SHARD_MOVING = "SHARD_MOVING"  # the account's state is moving between shards (a resize)
WRONG_SHARD = "WRONG_SHARD"  # another shard owns the account under the current ring
REROUTE = frozenset({SHARD_MOVING, WRONG_SHARD})  # refusals about routing, not the request


class Refused(Result, tag="refused", kw_only=True):
    code: str  # STREAM_LIMIT_REACHED | SESSION_NOT_FOUND | one of REROUTE
    active: list[Session] = msgspec.field(default_factory=list)


AnyResult = Done | Refused

_ops = msgspec.msgpack.Encoder()
_decode_ops = msgspec.msgpack.Decoder(list[AnyOp])
_decode_results = msgspec.msgpack.Decoder(list[AnyResult])


def encode(items: list[AnyOp] | list[AnyResult]) -> bytes:
    return _ops.encode(items)


def decode_ops(payload: bytes) -> list[AnyOp]:
    return _decode_ops.decode(payload)


def decode_results(payload: bytes) -> list[AnyResult]:
    return _decode_results.decode(payload)
