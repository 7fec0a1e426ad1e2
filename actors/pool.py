"""The fixed pool of shard actors and the stable hash from account to shard.

Shards are named, detached actors (``shard-<i>-of-<n>``) in one namespace, so every ingress
replica on any node finds the same ones, and Ray restarts a dead one under the same name.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ray.actor import ActorHandle

from actors.routing import shard_of
from actors.shard import ShardActor

NAMESPACE = "streaming"


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

    def for_account(self, account_id: str) -> ActorHandle[Any]:
        return self.shards[shard_of(account_id, self.count)]

    async def ping_all(self) -> None:
        await asyncio.gather(*(shard.ping.remote() for shard in self.shards))

    async def send(self, shard: int, payload: bytes) -> bytes:
        """One group-commit batch to one shard (see :class:`actors.client.GroupCommit`)."""
        result: bytes = await self.shards[shard].apply.remote(payload)
        return result
