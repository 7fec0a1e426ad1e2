"""The fixed pool of shard actors and the stable hash from account to shard.

Shards are named, detached actors (``shard-<i>-of-<n>``) in one namespace, so every ingress
replica on any node finds the same ones, and Ray restarts a dead one under the same name.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ray.actor import ActorHandle

from actors import channel
from actors.routing import shard_of
from actors.shard import ShardActor

NAMESPACE = "streaming"
CONNECT_TIMEOUT_S = 5.0  # a restarting shard answers within this, or the batch answers 503
RECONNECT_RETRIES = 1  # a stale socket costs one reconnect, not a 503 to the player
# After a failed connect, batches to that shard answer 503 at once for this long instead of
# each waiting out a connect of its own (see ShardPool._connect).
RECONNECT_COOLDOWN_S = 1.0


class ShardPool:
    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("the shard pool needs at least one shard")
        self.count = count
        self.shards: list[ActorHandle[Any]] = [
            ShardActor.options(  # type: ignore[attr-defined]
                name=f"shard-{index}-of-{count}",
                namespace=NAMESPACE,
                lifetime="detached",
                get_if_exists=True,
            ).remote(index, count)
            for index in range(count)
        ]
        self._channels: list[channel.Channel | None] = [None] * count
        self._connecting = [asyncio.Lock() for _ in range(count)]
        # Per shard: why the last connect failed and when (None: it worked).
        self._failed: list[tuple[float, BaseException] | None] = [None] * count

    def for_account(self, account_id: str) -> ActorHandle[Any]:
        return self.shards[shard_of(account_id, self.count)]

    async def ping_all(self) -> None:
        await asyncio.gather(*(shard.ping.remote() for shard in self.shards))

    async def send(self, shard: int, payload: bytes) -> bytes:
        """One group-commit batch to one shard (see :class:`actors.client.GroupCommit`), over
        the shard's direct socket. A broken socket (the shard restarted since this replica
        last spoke to it) is reconnected once, learning the restarted shard's new address
        through Ray, and the batch sent again: every op is safe to repeat. If that fails too,
        the batch's requests answer 503 with Retry-After."""
        for attempt in range(1 + RECONNECT_RETRIES):
            link = self._channels[shard]
            if link is None or link.closed:
                link = await self._connect(shard)
            try:
                return await link.request(payload)
            except channel.ChannelClosed:
                self._channels[shard] = None
                if attempt == RECONNECT_RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def _connect(self, shard: int) -> channel.Channel:
        """The shard's channel, connecting if needed.

        Within :data:`RECONNECT_COOLDOWN_S` of a failed connect, fail at once (the batch answers
        503 with Retry-After): a shard whose node died stays unreachable until Ray declares the
        node dead and restarts the shard elsewhere (~15 s), and batches each waiting out a
        connect timeout of their own, one after the other, would turn those 503s into hangs."""
        async with self._connecting[shard]:
            link = self._channels[shard]
            if link is None or link.closed:
                failed = self._failed[shard]
                if failed is not None and time.monotonic() - failed[0] < RECONNECT_COOLDOWN_S:
                    raise ConnectionError(f"shard {shard} unreachable: {failed[1]!r}")
                try:
                    endpoint: channel.Endpoint = await asyncio.wait_for(
                        self.shards[shard].endpoint.remote(), CONNECT_TIMEOUT_S
                    )
                    link = await channel.Channel.open(endpoint, CONNECT_TIMEOUT_S)
                except Exception as exc:
                    self._failed[shard] = (time.monotonic(), exc)
                    raise
                self._failed[shard] = None
                self._channels[shard] = link
            return link
