"""An ingress replica's view of the shard actors: the ring it routes by and a socket per shard.

Shards are named, detached actors (``shard-<i>``) in one namespace, so every ingress replica on
any node finds the same ones, and Ray restarts a dead one under the same name. Which shards
exist and who owns which account is the :class:`~actors.routing.Ring` the director
(:mod:`actors.director`) keeps in Redis; a replica reads it at start and again whenever a shard
says it routed by an older one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ray
from ray.actor import ActorHandle

from actors import channel
from actors.routing import Ring, load_ring
from actors.shard import ShardActor

NAMESPACE = "streaming"
CONNECT_TIMEOUT_S = 5.0  # a restarting shard answers within this, or the batch answers 503
RECONNECT_RETRIES = 1  # a stale socket costs one reconnect, not a 503 to the player
# After a failed connect, batches to that shard answer 503 at once for this long instead of
# each waiting out a connect of its own (see ShardPool._connect).
RECONNECT_COOLDOWN_S = 1.0
# Refusals that name an older ring re-read it at most this often (a resize refuses many).
REFRESH_EVERY_S = 0.2

ReadRing = Callable[[], Awaitable[bytes | str | None]]


def shard_name(index: int) -> str:
    return f"shard-{index}"


def shard_actor(index: int, **options: Any) -> ActorHandle[Any]:
    """Shard ``index``, created if it does not exist (the director's and placement's call)."""
    return ShardActor.options(  # type: ignore[attr-defined,no-any-return]
        name=shard_name(index),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        **options,
    ).remote(index)


class ShardPool:
    def __init__(self, read_ring: ReadRing) -> None:
        self.read_ring = read_ring
        self.ring: Ring | None = None
        self._handles: dict[int, ActorHandle[Any]] = {}
        self._channels: dict[int, channel.Channel] = {}
        self._connecting: dict[int, asyncio.Lock] = {}
        # Per shard: why the last connect failed and when.
        self._failed: dict[int, tuple[float, BaseException]] = {}
        self._refreshed_at = 0.0
        self._refreshing: asyncio.Lock | None = None

    def use(self, raw: bytes | str | None) -> bool:
        """Route by this ring from now on if it is newer than ours; True if it was."""
        ring = load_ring(raw)
        if ring is None or (self.ring is not None and ring.epoch <= self.ring.epoch):
            return False
        self.ring = ring
        return True

    def route(self, account_id: str) -> int:
        if self.ring is None:
            raise ConnectionError("no shard ring yet (the director has not answered)")
        return self.ring.owner(account_id)

    async def refresh(self) -> bool:
        """Re-read the ring from Redis (at most every :data:`REFRESH_EVERY_S`, one read at a
        time); True if it changed."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        before = self.ring
        async with self._refreshing:
            if self.ring is not before:  # another caller's read got it meanwhile
                return True
            if time.monotonic() - self._refreshed_at < REFRESH_EVERY_S:
                return False
            self._refreshed_at = time.monotonic()
            return self.use(await self.read_ring())

    async def ping_all(self) -> None:
        if self.ring is None:
            raise ConnectionError("no shard ring yet")
        handles = [await self._handle(index) for index in range(self.ring.count)]
        await asyncio.gather(*(shard.ping.remote() for shard in handles))

    async def _handle(self, index: int) -> ActorHandle[Any]:
        """Shard ``index``'s actor, looked up by name, never created: only the director
        creates shards, so a replica with an old ring cannot bring back a retired one."""
        handle = self._handles.get(index)
        if handle is None:
            handle = await asyncio.to_thread(ray.get_actor, shard_name(index), NAMESPACE)
            self._handles[index] = handle
        return handle

    async def send(self, shard: int, payload: bytes) -> bytes:
        """One group-commit batch to one shard (see :class:`actors.client.GroupCommit`), over
        the shard's direct socket. A broken socket (the shard restarted since this replica
        last spoke to it) is reconnected once, learning the restarted shard's new address
        through Ray, and the batch sent again: every op is safe to repeat. If that fails too,
        the batch's requests answer 503 with Retry-After."""
        for attempt in range(1 + RECONNECT_RETRIES):
            link = self._channels.get(shard)
            if link is None or link.closed:
                link = await self._connect(shard)
            try:
                return await link.request(payload)
            except channel.ChannelClosed:
                self._channels.pop(shard, None)
                if attempt == RECONNECT_RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def _connect(self, shard: int) -> channel.Channel:
        """The shard's channel, connecting if needed.

        Within :data:`RECONNECT_COOLDOWN_S` of a failed connect, fail at once (the batch answers
        503 with Retry-After): a shard whose node died stays unreachable until Ray declares the
        node dead and restarts the shard elsewhere (~15 s), and batches each waiting out a
        connect timeout of their own, one after the other, would turn those 503s into hangs."""
        lock = self._connecting.setdefault(shard, asyncio.Lock())
        async with lock:
            link = self._channels.get(shard)
            if link is None or link.closed:
                failed = self._failed.get(shard)
                if failed is not None and time.monotonic() - failed[0] < RECONNECT_COOLDOWN_S:
                    raise ConnectionError(f"shard {shard} unreachable: {failed[1]!r}")
                try:
                    handle = await self._handle(shard)
                    endpoint: channel.Endpoint = await asyncio.wait_for(
                        handle.endpoint.remote(), CONNECT_TIMEOUT_S
                    )
                    link = await channel.Channel.open(endpoint, CONNECT_TIMEOUT_S)
                except Exception as exc:
                    self._failed[shard] = (time.monotonic(), exc)
                    self._handles.pop(shard, None)  # a retired shard: look it up again later
                    raise
                self._failed.pop(shard, None)
                self._channels[shard] = link
            return link
