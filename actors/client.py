"""Group commit from an ingress replica to the shards: one actor call per shard per batch.

An awaited actor call costs about as much CPU as the rest of a request, so requests do not each
make one: :class:`api.batching.Batcher` queues them per shard and one ``apply`` call carries a
whole batch (msgpack-encoded ops in, results out); each request awaits its own result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from actors.protocol import AnyOp, AnyResult, decode_results, encode
from api.batching import Batcher

Send = Callable[[int, bytes], Awaitable[bytes]]  # (shard index, encoded ops) → encoded results


class ShardUnavailable(RuntimeError):
    """The shard could not be reached (restarting, or the cluster is short of resources)."""


class GroupCommit:
    def __init__(
        self,
        send: Send,
        shard_count: int,
        *,
        window_s: float = 0.002,
        max_batch: int = 512,
    ) -> None:
        async def send_batch(shard: int, ops: list[AnyOp]) -> list[AnyResult | BaseException]:
            return list(decode_results(await send(shard, encode(ops))))

        self._batcher: Batcher[AnyOp, AnyResult] = Batcher(
            send_batch,
            shard_count,
            window_s=window_s,
            max_batch=max_batch,
            on_failure=lambda shard, exc: ShardUnavailable(f"shard {shard}: {exc!r}"),
        )

    @property
    def shard_count(self) -> int:
        return self._batcher.destinations

    @property
    def batches(self) -> int:
        return self._batcher.batches

    @property
    def ops(self) -> int:
        return self._batcher.items

    def queue_lengths(self) -> list[int]:
        return self._batcher.queue_lengths()

    async def call(self, shard: int, op: AnyOp) -> AnyResult:
        return await self._batcher.call(shard, op)
