"""Group commit from an ingress replica to the shards: one actor call per shard per batch.

An awaited actor call costs about as much CPU as the rest of a request, so requests do not each
make one. Each op waits in its shard's queue for at most ``window_s`` (or until ``max_batch``
ops are waiting); one ``apply`` call carries them all, and each request awaits its own result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from actors.protocol import AnyOp, AnyResult, decode_results, encode

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
        self._send = send
        self._window_s = window_s
        self._max_batch = max_batch
        self._queues: list[list[tuple[AnyOp, asyncio.Future[AnyResult]]]] = [
            [] for _ in range(shard_count)
        ]
        self._timers: list[asyncio.TimerHandle | None] = [None] * shard_count
        self.batches = 0
        self.ops = 0

    @property
    def shard_count(self) -> int:
        return len(self._queues)

    def queue_lengths(self) -> list[int]:
        return [len(queue) for queue in self._queues]

    async def call(self, shard: int, op: AnyOp) -> AnyResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AnyResult] = loop.create_future()
        queue = self._queues[shard]
        queue.append((op, future))
        if len(queue) >= self._max_batch:
            self._dispatch(shard)
        elif self._timers[shard] is None:
            self._timers[shard] = loop.call_later(self._window_s, self._dispatch, shard)
        return await future

    def _dispatch(self, shard: int) -> None:
        timer, self._timers[shard] = self._timers[shard], None
        if timer is not None:
            timer.cancel()
        batch, self._queues[shard] = self._queues[shard], []
        if batch:
            asyncio.get_running_loop().create_task(self._run(shard, batch))

    async def _run(self, shard: int, batch: list[tuple[AnyOp, asyncio.Future[AnyResult]]]) -> None:
        self.batches += 1
        self.ops += len(batch)
        try:
            results = decode_results(await self._send(shard, encode([op for op, _ in batch])))
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(ShardUnavailable(f"shard {shard}: {exc!r}"))
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
