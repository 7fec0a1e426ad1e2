"""The shard actor: one of a pool, owning the live playback state of the accounts hashed to it.

Per batch (one call per shard per group commit): apply every op synchronously on
:class:`~actors.state.ShardState`, write what changed to the Redis journal in one pipeline, and
only then answer, so an acknowledged update survives this process dying. Every few seconds the
dirty progress goes to MongoDB in one bulk write and its journal entries are dropped. A
restarted shard (Ray restarts it under the same name) replays its journal before serving.

Which accounts are its own is the :class:`~actors.routing.Ring` in Redis; a request for an
account that is not (a replica routing by an older ring) or that is moving to another shard
during a resize is refused, never applied. The resize itself (begin → export → adopt →
release → commit) is driven by :mod:`actors.director`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import ray
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from actors import channel
from actors.metrics import shard_metrics
from actors.routing import RING_KEY, Ring, load_ring
from actors.state import Changes, Handoff, ProgressKey, ShardState, progress_field
from core import trending
from core.config import Settings
from core.protocol import (
    SHARD_MOVING,
    WRONG_SHARD,
    AnyOp,
    AnyResult,
    Heartbeat,
    Progress,
    Refused,
    Session,
    decode_ops,
    encode,
    progress_id,
)
from core.storage import mongo_client, redis_client
from core.tasks import cancel_and_wait

log = logging.getLogger("actors.shard")

# Delete a journal field only if it still holds what was flushed (a newer update may have
# replaced it while MongoDB was being written).
_DELETE_IF_SAME = """
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
"""


def journal_keys(index: int) -> tuple[str, str, str]:
    tag = f"{{shard-{index}}}"
    return f"journal:{tag}:sessions", f"journal:{tag}:progress", f"journal:{tag}:events"


def progress_update(entry: Progress) -> UpdateOne:
    """Upsert that only ever moves forward in the player's time (replays change nothing)."""
    newer = {"$gt": [entry.client_ts_ms, {"$ifNull": ["$client_ts_ms", -1]}]}
    values: dict[str, Any] = {
        "account_id": entry.account_id,
        "profile_id": entry.profile_id,
        "title_id": entry.title_id,
        "asset_id": entry.asset_id,
        "position_ms": entry.position_ms,
        "duration_ms": entry.duration_ms,
        "state": entry.state,
        "watched": entry.watched,
        "client_ts_ms": entry.client_ts_ms,
        "updated_at": datetime.fromtimestamp(entry.updated_at_ms / 1000, UTC),
        "hidden": False,
    }
    guarded = {name: {"$cond": [newer, value, f"${name}"]} for name, value in values.items()}
    if entry.watched:
        guarded["watched_at"] = {"$cond": [newer, values["updated_at"], "$watched_at"]}
    return UpdateOne(
        {"_id": progress_id(entry.profile_id, entry.asset_id)}, [{"$set": guarded}], upsert=True
    )


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class ShardActor:
    def __init__(self, index: int) -> None:
        self.index = index
        # Read from Redis with the journal; None until the director first writes one (a shard
        # placed before the first deploy): every request is refused until then.
        self.ring: Ring | None = None
        self.started_at = time.time()
        settings = Settings.from_env()
        # An actor process has no log handler of its own: records go to stderr, which Ray
        # writes to this worker's log file (worker-*.err), at the configured level.
        logging.basicConfig(
            level=settings.runtime.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        self.redis = redis_client(settings)
        self.db = mongo_client(settings)[settings.mongodb_db]
        self.state = ShardState()
        self.sessions_key, self.progress_key, self.events_key = journal_keys(index)
        self.flush_s = settings.shards.flush_s
        self.persist_every_ms = int(settings.shards.persist_s * 1000)
        self.write_through = settings.shards.write_through  # the benchmark's baseline only
        self.delete_if_same = self.redis.register_script(_DELETE_IF_SAME)
        self.recovered: asyncio.Task[None] | None = None
        self.background: asyncio.Task[None] | None = None
        self.flush_lock = asyncio.Lock()
        self.writes: set[asyncio.Future[None]] = set()  # journal writes of batches in flight
        self.handoff_decoder = msgspec.msgpack.Decoder(Handoff)
        self.host: str = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        self.secret = secrets.token_bytes(16)
        self.server: asyncio.Server | None = None
        self.stats = {
            "batches": 0,
            "ops": 0,
            "heartbeats": 0,
            "flushes": 0,
            "flushed_docs": 0,  # progress documents written to MongoDB (write-through included)
            "flushed_events": 0,
            "expired": 0,
        }
        # Built here, not at module level: Ray pickles the actor class, and msgspec codecs
        # cannot be pickled.
        self.encoder = msgspec.msgpack.Encoder()
        self.session_decoder = msgspec.msgpack.Decoder(Session)
        self.progress_decoder = msgspec.msgpack.Decoder(Progress)

    async def _ready(self) -> None:
        if self.recovered is None:
            self.recovered = asyncio.get_running_loop().create_task(self._recover())
            self.background = asyncio.get_running_loop().create_task(self._maintain())
        await self.recovered

    async def endpoint(self) -> channel.Endpoint:
        """Where ingress replicas send batches directly (see :mod:`actors.channel`). The
        socket opens after the journal is replayed, so nothing is served from a cold state."""
        await self._ready()
        if self.server is None:
            self.server = await channel.serve(self.host, self.secret, self.apply)
        port = self.server.sockets[0].getsockname()[1]
        return channel.Endpoint(self.host, port, self.secret)

    async def _recover(self) -> None:
        self.ring = load_ring(await self.redis.get(RING_KEY))
        sessions: dict[bytes, bytes] = await self.redis.hgetall(self.sessions_key)  # type: ignore[assignment]
        progress: dict[bytes, bytes] = await self.redis.hgetall(self.progress_key)  # type: ignore[assignment]
        self.state.restore(
            [self.session_decoder.decode(blob) for blob in sessions.values()],
            [self.progress_decoder.decode(blob) for blob in progress.values()],
            int(time.time() * 1000),
        )
        if sessions or progress:
            log.warning(
                "shard %d recovered %d sessions and %d unflushed progress entries",
                self.index,
                len(self.state.sessions),
                len(progress),
            )

    async def apply(self, payload: bytes) -> bytes:
        """One group-commit batch: decide everything, journal it, then answer."""
        await self._ready()
        ops = decode_ops(payload)
        changes = Changes()
        results = [self._apply_owned(op, changes) for op in ops]
        if self.write_through and changes.progress:
            await self._write_through(changes)
        if changes:
            # Tracked, so a resize's export waits for what batches already decided.
            write = asyncio.ensure_future(self._journal(changes))
            self.writes.add(write)
            write.add_done_callback(self.writes.discard)
            await write
        self.stats["batches"] += 1
        self.stats["ops"] += len(ops)
        self._observe(ops, results)
        return encode(results)

    def _apply_owned(self, op: AnyOp, changes: Changes) -> AnyResult:
        if self.ring is None:
            return Refused(code=SHARD_MOVING)
        match self.ring.ownership(op.account_id, self.index):
            case "mine":
                return self.state.apply(op, changes)
            case "moving":  # frozen until its new shard has it: the ingress answers 503
                return Refused(code=SHARD_MOVING)
            case "elsewhere":  # the sender routed by an older ring: it re-reads and re-sends
                return Refused(code=WRONG_SHARD)

    # -- online resize (driven by actors.director) ----------------------------------------------

    async def begin(self, ring: Ring) -> None:
        """A resize starts: requests for accounts that change owner are refused from now on."""
        await self._ready()
        self.ring = ring

    def _leaving(self, account_id: str) -> bool:
        return self.ring is not None and self.ring.owner(account_id) != self.index

    def _owner(self, account_id: str) -> int:
        assert self.ring is not None
        return self.ring.owner(account_id)

    async def export(self) -> dict[int, bytes]:
        """Everything this shard holds for accounts another shard owns under the ring, by new
        owner (msgpack :class:`~actors.state.Handoff`). A copy: nothing is dropped until
        :meth:`release`, so a director that dies mid-move loses nothing and simply repeats."""
        await self._ready()
        if self.writes:  # batches decided before begin(): their journal writes land first
            await asyncio.gather(*list(self.writes), return_exceptions=True)
        parts = self.state.handoff(self._leaving).split(self._owner)
        return {owner: self.encoder.encode(part) for owner, part in parts.items()}

    async def adopt(self, payload: bytes) -> int:
        """Take over accounts another shard hands off, journaled before the answer (the
        sender drops its copy only after that). Returns the sessions adopted."""
        await self._ready()
        handoff = self.handoff_decoder.decode(payload)
        self.state.adopt(handoff)
        changes = Changes()
        for session in handoff.sessions:
            changes.put_session(session)
        for entry in handoff.dirty:
            changes.progress[(entry.profile_id, entry.asset_id)] = entry
        if changes:
            await self._journal(changes)
        return len(handoff.sessions)

    async def release(self) -> dict[str, Any]:
        """After the new owners adopted them: drop the exported accounts here, and from the
        journal, so a restart does not bring them back."""
        await self._ready()
        handoff = self.state.release(self._leaving)
        async with self.redis.pipeline(transaction=False) as pipe:
            if handoff.sessions:
                pipe.hdel(self.sessions_key, *(s.session_id for s in handoff.sessions))
            fields = [progress_field((e.profile_id, e.asset_id)) for e in handoff.dirty]
            if fields:
                pipe.hdel(self.progress_key, *fields)
            await pipe.execute()
        accounts = {s.account_id for s in handoff.sessions}
        accounts |= {e.account_id for e in handoff.dirty + handoff.clean}
        return {
            "sessions": len(handoff.sessions),
            "progress": len(handoff.dirty),
            "clean": len(handoff.clean),
            "accounts": sorted(accounts),
        }

    async def commit(self, ring: Ring) -> None:
        """The resize is done: ``ring`` is stable and every account is served again."""
        await self._ready()
        self.ring = ring

    def _observe(self, ops: list[AnyOp], results: list[AnyResult]) -> None:
        metrics = shard_metrics(self.index)
        metrics.batch_size.observe(len(ops), metrics.tags)
        kinds: dict[str, int] = {}
        for op, result in zip(ops, results, strict=True):
            kind = type(op).__name__
            kinds[kind] = kinds.get(kind, 0) + 1
            if isinstance(result, Refused):
                metrics.refused.inc(1, {**metrics.tags, "reason": result.code})
        for kind, count in kinds.items():
            metrics.ops.inc(count, {**metrics.tags, "op": kind})
        self.stats["heartbeats"] += kinds.get(Heartbeat.__name__, 0)
        metrics.active_streams.set(len(self.state.sessions), metrics.tags)
        metrics.buffered.set(len(self.state.dirty), metrics.tags)

    async def _journal(self, changes: Changes) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            if changes.sessions:
                pipe.hset(
                    self.sessions_key,
                    mapping={sid: self.encoder.encode(s) for sid, s in changes.sessions.items()},
                )
            if changes.ended:
                pipe.hdel(self.sessions_key, *changes.ended)
            if changes.events:
                pipe.rpush(self.events_key, *(self.encoder.encode(e) for e in changes.events))
            for title_id in changes.plays:  # rides along: no round trip of its own per start
                trending.add_to(pipe, title_id, "play")
            for title_id in changes.finishes:
                trending.add_to(pipe, title_id, "finish")
            if changes.progress:
                pipe.hset(
                    self.progress_key,
                    mapping={
                        progress_field(k): self.encoder.encode(p)
                        for k, p in changes.progress.items()
                    },
                )
            await pipe.execute()

    async def _write_through(self, changes: Changes) -> None:
        """The unbuffered baseline: this batch's progress goes to MongoDB now, not the journal."""
        written, changes.progress = changes.progress, {}
        await self._write_progress(written)
        self.state.flushed(written, int(time.time() * 1000))

    async def _write_progress(self, written: dict[ProgressKey, Progress]) -> None:
        """One bulk upsert of these entries to MongoDB, counted (metrics and stats)."""
        metrics = shard_metrics(self.index)
        metrics.flush_docs.observe(len(written), metrics.tags)
        await self.db.progress.bulk_write(
            [progress_update(entry) for entry in written.values()], ordered=False
        )
        self.stats["flushed_docs"] += len(written)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                changes = Changes()
                expired = self.state.expire(int(time.time() * 1000), changes)
                if changes:
                    await self._journal(changes)
                self.stats["expired"] += len(expired)
                await self.flush()
                await self.flush_events()
                metrics = shard_metrics(self.index)
                depth = await self.redis.hlen(self.progress_key) + await self.redis.llen(
                    self.events_key
                )
                metrics.journal_depth.set(depth, metrics.tags)
                metrics.active_streams.set(len(self.state.sessions), metrics.tags)
                metrics.buffered.set(len(self.state.dirty), metrics.tags)
            except Exception:
                log.exception("shard %d maintenance failed; retrying", self.index)

    async def flush(self, everything: bool = False) -> int:
        """Due progress → one MongoDB bulk write → drop exactly those journal entries."""
        async with self.flush_lock:
            now = int(time.time() * 1000)
            written: dict[ProgressKey, Progress] = (
                {key: self.state.buffer[key] for key in list(self.state.dirty)}
                if everything
                else self.state.due(now, self.persist_every_ms)
            )
            if written:
                metrics = shard_metrics(self.index)
                oldest = min(entry.updated_at_ms for entry in written.values())
                metrics.flush_lag.observe(max(0.0, time.time() - oldest / 1000), metrics.tags)
                await self._write_progress(written)
                args: list[str | bytes] = []
                for key, entry in written.items():
                    args += [progress_field(key), self.encoder.encode(entry)]
                await self.delete_if_same(keys=[self.progress_key], args=args)
                self.stats["flushes"] += 1
            self.state.flushed(written, int(time.time() * 1000))
            return len(written)

    async def flush_events(self, batch: int = 5000) -> int:
        """Journaled events → one bulk insert → trim exactly those from the journal.

        Event ids are deterministic, so a retry after a failed trim inserts nothing twice."""
        blobs: list[bytes] = await self.redis.lrange(self.events_key, 0, batch - 1)  # type: ignore[assignment]
        if not blobs:
            return 0
        docs = [msgspec.msgpack.decode(blob) for blob in blobs]
        try:
            await self.db.events.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
                raise
        await self.redis.ltrim(self.events_key, len(blobs), -1)
        self.stats["flushed_events"] += len(docs)
        return len(docs)

    async def drain(self, batch: int = 5000) -> dict[str, int]:
        """Graceful shutdown: flush everything now (the journal covers anything after).

        Returns what was flushed, by kind: ``positions`` (progress documents written) and
        ``events`` (journaled QoE and analytics events inserted, every batch of them)."""
        await self._ready()
        positions = await self.flush(everything=True)
        events = 0
        while True:
            flushed = await self.flush_events(batch)
            events += flushed
            if flushed < batch:
                break
        return {"positions": positions, "events": events}

    async def ping(self) -> dict[str, float | int]:
        await self._ready()
        return {
            "index": self.index,
            "epoch": -1 if self.ring is None else self.ring.epoch,
            "pid": os.getpid(),
            "uptime_s": time.time() - self.started_at,
            "sessions": len(self.state.sessions),
            "buffered": len(self.state.dirty),
            **self.stats,
        }

    async def set_write_through(self, enabled: bool) -> None:
        """Benchmarks only: switch the unbuffered baseline on or off (see ``write_through``)."""
        await self._ready()
        if enabled and not self.write_through:
            await self.flush(everything=True)
        self.write_through = enabled

    async def journal_depth(self) -> int:
        return int(await self.redis.hlen(self.progress_key))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.background is not None:
            await cancel_and_wait(self.background)
