"""How the API reaches the shard actors: one call, whatever carries it.

``api/`` depends on this interface only; ``deployments/`` hands it the real client
(``actors.client.GroupCommit`` over the shard sockets), and a test may hand it anything with
the same ``call``."""

from __future__ import annotations

from typing import Protocol

from core.protocol import AnyOp, AnyResult


class ShardUnavailable(RuntimeError):
    """The shard could not be reached (restarting, or the cluster is short of resources)."""


class Shards(Protocol):
    async def call(self, op: AnyOp) -> AnyResult:
        """``op`` applied by its account's shard: its result, or a ``Refused``. Raises
        :class:`ShardUnavailable` when no shard answered."""
        ...
