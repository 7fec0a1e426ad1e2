"""A shard's live state and every decision made on it, with no Ray and no I/O.

The actor wraps this: it applies a batch synchronously (so no other batch interleaves with a
decision), journals the resulting :class:`Changes` to Redis, and only then answers. Keeping the
logic here makes it testable without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from core.protocol import (
    AnalyticsEvent,
    AnyOp,
    AnyResult,
    Done,
    GetSession,
    Heartbeat,
    PlayerEvent,
    Progress,
    Refused,
    Session,
    StartSession,
    StopSession,
    Touch,
)

CLEAN_ENTRY_TTL_MS = 10 * 60_000  # flushed progress stays cached this long for ordering checks

ProgressKey = tuple[str, str]  # (profile_id, asset_id)


def progress_field(key: ProgressKey) -> str:
    return f"{key[0]}|{key[1]}"


@dataclass
class Changes:
    """What one batch changed, to be journaled before any result is returned."""

    sessions: dict[str, Session] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    progress: dict[ProgressKey, Progress] = field(default_factory=dict)
    events: list[dict[str, object]] = field(default_factory=list)  # stored in bulk, in order
    plays: list[str] = field(default_factory=list)  # title ids of sessions started (trending)
    finishes: list[str] = field(default_factory=list)  # title ids just watched (trending)

    def put_session(self, session: Session) -> None:
        self.ended.discard(session.session_id)
        self.sessions[session.session_id] = session

    def end_session(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)
        self.ended.add(session_id)

    def __bool__(self) -> bool:
        return bool(
            self.sessions
            or self.ended
            or self.progress
            or self.events
            or self.plays
            or self.finishes
        )


class Handoff(msgspec.Struct, kw_only=True):
    """One shard's state for the accounts it hands to another during a resize."""

    sessions: list[Session] = msgspec.field(default_factory=list)
    dirty: list[Progress] = msgspec.field(default_factory=list)  # not yet in MongoDB
    clean: list[Progress] = msgspec.field(default_factory=list)  # cached for ordering checks

    def __bool__(self) -> bool:
        return bool(self.sessions or self.dirty or self.clean)

    def split(self, owner_of: Callable[[str], int]) -> dict[int, Handoff]:
        """This hand-off in parts, by the shard that owns each account."""
        parts: dict[int, Handoff] = {}

        def part(account_id: str) -> Handoff:
            return parts.setdefault(owner_of(account_id), Handoff())

        for session in self.sessions:
            part(session.account_id).sessions.append(session)
        for entry in self.dirty:
            part(entry.account_id).dirty.append(entry)
        for entry in self.clean:
            part(entry.account_id).clean.append(entry)
        return parts


@dataclass
class ShardState:
    sessions: dict[str, Session] = field(default_factory=dict)
    by_account: dict[str, set[str]] = field(default_factory=dict)
    buffer: dict[ProgressKey, Progress] = field(default_factory=dict)
    dirty: set[ProgressKey] = field(default_factory=set)
    persisted: dict[ProgressKey, Progress] = field(default_factory=dict)  # last MongoDB write

    # -- sessions ---------------------------------------------------------------------------

    def _add(self, session: Session) -> None:
        self.sessions[session.session_id] = session
        self.by_account.setdefault(session.account_id, set()).add(session.session_id)

    def _remove(self, session_id: str) -> Session | None:
        session = self.sessions.pop(session_id, None)
        if session is not None:
            owned = self.by_account.get(session.account_id)
            if owned is not None:
                owned.discard(session_id)
                if not owned:
                    del self.by_account[session.account_id]
        return session

    def active(self, account_id: str) -> list[Session]:
        found = (self.sessions[sid] for sid in self.by_account.get(account_id, ()))
        return sorted(found, key=lambda s: (s.started_at_ms, s.session_id))

    def _end(self, session_id: str, changes: Changes) -> None:
        """Drop a session and record its end for the journal."""
        self._remove(session_id)
        changes.end_session(session_id)

    def expire(self, now_ms: int, changes: Changes, account_id: str | None = None) -> list[Session]:
        """Free the slots of streams that stopped sending heartbeats without a stop
        (of one account, or of every account on this shard)."""
        candidates = self.active(account_id) if account_id else list(self.sessions.values())
        gone = [s for s in candidates if s.lease_expires_ms <= now_ms]
        for session in gone:
            self._end(session.session_id, changes)
        return gone

    def _owned(self, account_id: str, session_id: str, now_ms: int) -> Session | None:
        session = self.sessions.get(session_id)
        if (
            session is None
            or session.account_id != account_id
            or session.lease_expires_ms <= now_ms
        ):
            return None
        return session

    def _start(self, op: StartSession, changes: Changes) -> AnyResult:
        existing = self.sessions.get(op.session_id)
        if existing is not None and existing.account_id == op.account_id:
            return Done(session=existing)  # a retried call: the same decision again
        self.expire(op.now_ms, changes, op.account_id)
        for session in self.active(op.account_id):
            if session.device_id == op.device_id:  # the same device restarting replaces itself
                self._end(session.session_id, changes)
        active = self.active(op.account_id)
        if len(active) >= op.max_streams:
            return Refused(code="STREAM_LIMIT_REACHED", active=active)
        session = Session(
            session_id=op.session_id,
            account_id=op.account_id,
            profile_id=op.profile_id,
            title_id=op.title_id,
            asset_id=op.asset_id,
            device_id=op.device_id,
            platform=op.platform,
            started_at_ms=op.now_ms,
            lease_expires_ms=op.now_ms + op.lease_ttl_ms,
            duration_ms=op.duration_ms,
        )
        self._add(session)
        changes.put_session(session)
        changes.plays.append(op.title_id)
        return Done(session=session, progress=self.buffer.get((op.profile_id, op.asset_id)))

    def _renew(self, session: Session, now_ms: int, ttl_ms: int, changes: Changes) -> None:
        session.lease_expires_ms = now_ms + ttl_ms
        session.heartbeats += 1
        changes.put_session(session)

    # -- progress ---------------------------------------------------------------------------

    def _beat(self, op: Heartbeat, changes: Changes) -> AnyResult:
        report = op.position
        key = (report.profile_id, report.asset_id)
        current = self.buffer.get(key)
        accepted = current is None or report.client_ts_ms > current.client_ts_ms
        finished = False
        if accepted:
            watched = report.reaches_watched()
            entry = Progress(
                account_id=op.account_id,
                profile_id=report.profile_id,
                title_id=report.title_id,
                asset_id=report.asset_id,
                position_ms=report.position_ms,
                duration_ms=report.duration_ms,
                state=report.state,
                client_ts_ms=report.client_ts_ms,
                updated_at_ms=op.now_ms,
                watched=watched,
                version=(current.version + 1) if current else 1,
            )
            self.buffer[key] = entry
            self.dirty.add(key)
            changes.progress[key] = entry
            # The transition, seen here once: later beats past 95 % are not new finishes.
            finished = watched and (current is None or not current.watched)
            if finished:
                changes.finishes.append(report.title_id)
        session = self._session_for(op)
        if session is not None:
            if accepted:
                session.position_ms, session.state = report.position_ms, report.state
            self._renew(session, op.now_ms, op.lease_ttl_ms, changes)
        return Done(session=session, accepted=accepted, finished=finished)

    def _session_for(self, op: Heartbeat) -> Session | None:
        if op.session_id is not None:
            return self._owned(op.account_id, op.session_id, op.now_ms)
        candidates = [
            s
            for s in self.active(op.account_id)
            if s.profile_id == op.position.profile_id
            and s.asset_id == op.position.asset_id
            and s.lease_expires_ms > op.now_ms
        ]
        return max(candidates, key=lambda s: s.started_at_ms, default=None)

    def due(self, now_ms: int, persist_every_ms: int) -> dict[ProgressKey, Progress]:
        """Dirty entries MongoDB should see now. The Redis journal already makes every
        acknowledged update durable, and a session start asks this shard for the freshest
        position, so a playing or paused position is written at most once per
        ``persist_every_ms``; a first position and a finish (history) go out at once."""
        due = {}
        for key in self.dirty:
            entry = self.buffer[key]
            last = self.persisted.get(key)
            if (
                last is None
                or entry.watched != last.watched
                or (entry.state == "finished") != (last.state == "finished")
                or now_ms - last.updated_at_ms >= persist_every_ms
            ):
                due[key] = entry
        return due

    def flushed(self, written: dict[ProgressKey, Progress], now_ms: int) -> None:
        """After a MongoDB write: entries not updated since are clean; old clean ones go."""
        for key, entry in written.items():
            self.persisted[key] = entry
            if (current := self.buffer.get(key)) is not None and current.version == entry.version:
                self.dirty.discard(key)
        stale = [
            key
            for key, entry in self.buffer.items()
            if key not in self.dirty and now_ms - entry.updated_at_ms > CLEAN_ENTRY_TTL_MS
        ]
        for key in stale:
            del self.buffer[key]
            self.persisted.pop(key, None)

    # -- events -----------------------------------------------------------------------------

    def _player_event(self, op: PlayerEvent, changes: Changes) -> AnyResult:
        session = self._owned(op.account_id, op.session_id, op.now_ms)
        if session is None:
            return Refused(code="SESSION_NOT_FOUND")
        session.events += 1
        match op.event:
            case "rebuffer_start":
                session.rebuffers += 1
                session.rebuffering_since_ms = op.ts_ms
            case "rebuffer_end" if session.rebuffering_since_ms is not None:
                session.rebuffer_ms += max(0, op.ts_ms - session.rebuffering_since_ms)
                session.rebuffering_since_ms = None
            case "bitrate_change":
                session.bitrate_changes += 1
        if op.event == "error":
            session.errors += 1
        if isinstance(bitrate := op.metrics.get("bitrate_kbps"), int | float):
            session.bitrate_kbps = int(bitrate)
        self._renew(session, op.now_ms, op.lease_ttl_ms, changes)
        changes.events.append(
            {
                "_id": f"{session.session_id}:{session.events}",
                "kind": "playback",
                "session_id": session.session_id,
                "account_id": session.account_id,
                "profile_id": session.profile_id,
                "title_id": session.title_id,
                "asset_id": session.asset_id,
                "event": op.event,
                "ts_ms": op.ts_ms,
                "received_ms": op.now_ms,
                "metrics": op.metrics,
            }
        )
        return Done(session=session)

    def _analytics(self, op: AnalyticsEvent, changes: Changes) -> AnyResult:
        changes.events.append(
            {
                "_id": op.event_id,
                "kind": "analytics",
                "account_id": op.account_id,
                "profile_id": op.profile_id,
                "event": op.event_type,
                "title_id": op.content_id,
                "ts_ms": op.ts_ms,
                "received_ms": op.now_ms,
                "metadata": op.metadata,
            }
        )
        return Done()

    # -- the one entry point ----------------------------------------------------------------

    def apply(self, op: AnyOp, changes: Changes) -> AnyResult:
        match op:
            case StartSession():
                return self._start(op, changes)
            case Heartbeat():
                return self._beat(op, changes)
            case Touch():
                session = self._owned(op.account_id, op.session_id, op.now_ms)
                if session is None:
                    return Refused(code="SESSION_NOT_FOUND")
                self._renew(session, op.now_ms, op.lease_ttl_ms, changes)
                return Done(session=session)
            case PlayerEvent():
                return self._player_event(op, changes)
            case AnalyticsEvent():
                return self._analytics(op, changes)
            case StopSession():
                session = self._owned(op.account_id, op.session_id, op.now_ms)
                if session is not None:
                    self._end(session.session_id, changes)
                return Done(session=session)
            case GetSession():
                session = self._owned(op.account_id, op.session_id, op.now_ms)
                return Done(session=session) if session else Refused(code="SESSION_NOT_FOUND")

    # -- moving accounts to another shard (online resize) ----------------------------------

    def handoff(self, leaving: Callable[[str], bool]) -> Handoff:
        """A copy of everything held for the accounts ``leaving`` names: their sessions (with
        their leases) and their buffered progress, split by whether MongoDB has it yet."""
        handoff = Handoff()
        handoff.sessions = [s for s in self.sessions.values() if leaving(s.account_id)]
        for key, entry in self.buffer.items():
            if leaving(entry.account_id):
                (handoff.dirty if key in self.dirty else handoff.clean).append(entry)
        return handoff

    def release(self, leaving: Callable[[str], bool]) -> Handoff:
        """Drop what :meth:`handoff` copied, once the new owner has it; returns what went."""
        gone = self.handoff(leaving)
        for session in gone.sessions:
            self._remove(session.session_id)
        for entry in gone.dirty + gone.clean:
            key = (entry.profile_id, entry.asset_id)
            self.buffer.pop(key, None)
            self.dirty.discard(key)
            self.persisted.pop(key, None)
        return gone

    def adopt(self, handoff: Handoff) -> None:
        """Take over what another shard handed off; a replayed hand-off changes nothing (a
        newer entry for the same key, e.g. from an earlier attempt, wins)."""
        for session in handoff.sessions:
            if session.session_id not in self.sessions:
                self._add(session)
        for entry, dirty in [(e, True) for e in handoff.dirty] + [
            (e, False) for e in handoff.clean
        ]:
            key = (entry.profile_id, entry.asset_id)
            current = self.buffer.get(key)
            if current is not None and current.client_ts_ms > entry.client_ts_ms:
                continue
            self.buffer[key] = entry
            if dirty:
                self.dirty.add(key)
            else:
                self.persisted[key] = entry

    def restore(self, sessions: list[Session], progress: list[Progress], now_ms: int) -> None:
        """After a restart: the journal's live sessions and its unflushed progress."""
        for session in sessions:
            if session.lease_expires_ms > now_ms:
                self._add(session)
        for entry in progress:
            key = (entry.profile_id, entry.asset_id)
            self.buffer[key] = entry
            self.dirty.add(key)
