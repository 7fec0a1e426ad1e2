"""The shard director: one detached actor that owns the shard ring and resizes it online.

Every ingress replica asks it, at start, for the shard count its deployment was given
(``args.shard_count`` in ``ray_config.yaml``). The same count as the ring in Redis is a no-op;
another count is a resize, done before the replica that asked starts serving:

1. ``moving`` ring written to Redis (epoch + 1, the new count, the old count);
2. every shard, old and new, gets it (``begin``): from now on an account whose owner changes is
   *frozen* (its requests answer 503 + Retry-After); every other account is served throughout;
3. every shard exports the frozen accounts' sessions (leases) and buffered progress to their
   new owners, which journal them (``adopt``) before the old owner drops its copy (``release``);
4. the stable ring (epoch + 2) is written and sent to the shards (``commit``); shards beyond
   the new count are drained to MongoDB and removed.

A crash anywhere is repeatable: the director restarts and finishes a ``moving`` ring it finds
in Redis (the next replica start, or health check, asks it); export is a copy; adopt of the
same state twice changes nothing; a shard that restarts reads the ring with its journal.
Stream limits hold because an account's leases are only ever decided by one shard: the old
owner until ``begin``, nobody while frozen, the new owner after ``commit``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
import ray
from ray.actor import ActorHandle

from actors.pool import NAMESPACE, shard_actor
from actors.routing import RING_KEY, Ring, dump_ring, load_ring
from actors.shard import journal_keys
from core.config import Settings
from core.storage import redis_client

log = logging.getLogger("actors.director")

NAME = "shard-director"
LAST_MOVE_KEY = "shards:last_move"  # the last resize's MoveReport, JSON (for SREs and reports)


class MoveReport(msgspec.Struct, kw_only=True):
    """What the last resize did, kept in Redis under :data:`LAST_MOVE_KEY` (``make resize``
    reports it)."""

    from_count: int
    to_count: int
    epoch: int
    sessions_moved: int = 0
    progress_moved: int = 0  # buffered progress entries, unflushed ones included
    accounts_moved: int = 0
    frozen_s: float = 0.0  # from begin to commit: how long moving accounts answered 503
    retired: int = 0  # shards drained and removed (a shrink)


def director() -> ActorHandle[Any]:
    return ShardDirector.options(  # type: ignore[attr-defined,no-any-return]
        name=NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class ShardDirector:
    def __init__(self) -> None:
        settings = Settings.from_env()
        logging.basicConfig(
            level=settings.runtime.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        self.redis = redis_client(settings)
        self.lock = asyncio.Lock()
        self.swept = False  # foreign state looked for since this process started

    async def ensure(self, count: int) -> bytes:
        """The ring with ``count`` shards, resizing to it first if needed; returns it encoded."""
        if count < 1:
            raise ValueError("shard_count must be at least 1")
        async with self.lock:
            ring = load_ring(await self.redis.get(RING_KEY))
            if ring is None:  # a new cluster (or Redis lost its data): nothing to move
                ring = Ring(epoch=1, count=count)
                await self.redis.set(RING_KEY, dump_ring(ring))
            if ring.moving_from is not None:  # a resize this actor's last life did not finish
                log.warning(
                    "finishing an interrupted resize %d -> %d", ring.moving_from, ring.count
                )
                ring = await self._move(ring)
            if ring.count != count:
                log.warning("resizing the shard pool %d -> %d", ring.count, count)
                moving = Ring(epoch=ring.epoch + 1, count=count, moving_from=ring.count)
                await self.redis.set(RING_KEY, dump_ring(moving))
                ring = await self._move(moving)
            elif not self.swept:
                # State a shard holds for accounts it does not own (a journal written under an
                # older routing): hand it over like a resize would, once every shard knows the
                # ring (one placed before the first deploy has none yet).
                shards = [shard_actor(i) for i in range(ring.count)]
                await asyncio.gather(*(shard.commit.remote(ring) for shard in shards))
                await self._hand_over(ring, shards)
            self.swept = True
            # Every shard of the ring exists and routes by it (one placed before the first
            # deploy knows no ring yet).
            await asyncio.gather(*(shard_actor(i).commit.remote(ring) for i in range(ring.count)))
            return dump_ring(ring)

    async def _move(self, moving: Ring) -> Ring:
        assert moving.moving_from is not None
        began = time.monotonic()
        report = MoveReport(
            from_count=moving.moving_from, to_count=moving.count, epoch=moving.epoch
        )
        shards = [shard_actor(i) for i in range(moving.shards)]
        await asyncio.gather(*(shard.begin.remote(moving) for shard in shards))
        moved = await self._hand_over(moving, shards)
        report.sessions_moved, report.progress_moved, report.accounts_moved = moved
        stable = Ring(epoch=moving.epoch + 1, count=moving.count)
        await self.redis.set(RING_KEY, dump_ring(stable))
        await asyncio.gather(*(shard.commit.remote(stable) for shard in shards[: stable.count]))
        report.frozen_s = time.monotonic() - began
        for index, shard in enumerate(shards[stable.count :], start=stable.count):
            await self._retire(index, shard)
            report.retired += 1
        await self.redis.set(LAST_MOVE_KEY, msgspec.json.encode(report))
        log.warning(
            "resize %d -> %d done in %.2fs: %d accounts, %d sessions, %d progress entries moved",
            report.from_count,
            report.to_count,
            report.frozen_s,
            report.accounts_moved,
            report.sessions_moved,
            report.progress_moved,
        )
        return stable

    async def _hand_over(self, ring: Ring, shards: list[ActorHandle[Any]]) -> tuple[int, int, int]:
        """Every shard's state for accounts another shard owns under ``ring`` goes there:
        exported (a copy), adopted and journaled by the owner, then released by the sender."""

        async def one(shard: ActorHandle[Any]) -> tuple[int, int, set[str]]:
            parts: dict[int, bytes] = await shard.export.remote()
            if not parts:
                return 0, 0, set()
            sessions = 0
            for owner, payload in parts.items():
                sessions += await shards[owner].adopt.remote(payload)
            released: dict[str, Any] = await shard.release.remote()
            return sessions, released["progress"] + released["clean"], set(released["accounts"])

        results = await asyncio.gather(*(one(shard) for shard in shards))
        accounts: set[str] = set()
        for _, _, moved in results:
            accounts |= moved
        return sum(r[0] for r in results), sum(r[1] for r in results), len(accounts)

    async def _retire(self, index: int, shard: ActorHandle[Any]) -> None:
        """A shard a shrink left without accounts: its events to MongoDB, then gone."""
        await shard.drain.remote()
        await shard.stop.remote()
        ray.kill(shard, no_restart=True)
        await self.redis.delete(*journal_keys(index))
