"""Group commit from an ingress replica to the shards: one socket write per shard per batch.

An awaited actor call costs about as much CPU as the rest of a request, so requests do not each
make one: :class:`core.batching.Batcher` queues them per shard and one batch carries many
(msgpack-encoded ops in, results out); each request awaits its own result. Which shard is the
account's comes from the :class:`Router` (the replica's ring), re-read once when a shard says
the ring has moved on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from core.batching import Batcher
from core.protocol import REROUTE, AnyOp, AnyResult, Refused, decode_results, encode
from core.shards import ShardUnavailable

Send = Callable[[int, bytes], Awaitable[bytes]]  # (shard index, encoded ops) → encoded results


class Router(Protocol):
    def route(self, account_id: str) -> int: ...

    async def refresh(self) -> bool: ...


class GroupCommit:
    def __init__(
        self,
        send: Send,
        router: Router,
        *,
        window_s: float = 0.002,
        max_batch: int = 512,
    ) -> None:
        async def send_batch(shard: int, ops: list[AnyOp]) -> list[AnyResult | BaseException]:
            return list(decode_results(await send(shard, encode(ops))))

        self.router = router
        self._batcher: Batcher[AnyOp, AnyResult] = Batcher(
            send_batch,
            0,
            window_s=window_s,
            max_batch=max_batch,
            on_failure=lambda shard, exc: ShardUnavailable(f"shard {shard}: {exc!r}"),
        )

    @property
    def batches(self) -> int:
        return self._batcher.batches

    @property
    def ops(self) -> int:
        return self._batcher.items

    def queue_lengths(self) -> list[int]:
        return self._batcher.queue_lengths()

    async def call(self, op: AnyOp) -> AnyResult:
        """``op`` applied by its account's shard. A refusal about routing (the shard is not
        the account's owner any more, or the account is moving in a resize) or an unreachable
        shard re-reads the ring once and, if it changed, goes to the new owner; what is still
        refused after that is returned (the caller answers 503 with Retry-After)."""
        for attempt in range(2):
            try:
                shard = self.router.route(op.account_id)
            except ConnectionError as exc:
                raise ShardUnavailable(str(exc)) from None
            self._batcher.grow(shard + 1)
            try:
                result = await self._batcher.call(shard, op)
            except ShardUnavailable:
                if attempt == 0 and await self.router.refresh():
                    continue
                raise
            rerouted = isinstance(result, Refused) and result.code in REROUTE
            if rerouted and attempt == 0 and await self.router.refresh():
                continue
            return result
        raise AssertionError("unreachable")
