"""Coalesce many concurrent calls into one round trip per destination, each caller awaiting its own
result: the group commit behind both the shard-actor hop and the per-request Redis check.

A round trip costs far more CPU than the work it carries (an awaited Ray actor call about as much
as a whole request; a lone redis-py call ~250 µs against ~30 µs inside a pipeline), so callers
queue per destination for at most ``window_s`` (or until ``max_batch`` are waiting) and one
``send`` carries them all. Batches adapt to load: at most ``max_in_flight`` sends per destination
are outstanding, and whatever queued up meanwhile goes out the moment one returns. An idle
process pays one window of latency; a loaded one sends fewer, bigger batches instead of more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# (destination, items) → one result per item, in order; an exception in place of a result
# fails only that caller, a raised exception fails the whole batch.
Send = Callable[[int, list[T]], Awaitable[list[R | BaseException]]]


class Batcher(Generic[T, R]):
    def __init__(
        self,
        send: Send[T, R],
        destinations: int,
        *,
        window_s: float = 0.002,
        max_batch: int = 512,
        max_in_flight: int = 1,
        on_failure: Callable[[int, Exception], Exception] = lambda _, exc: exc,
    ) -> None:
        self._send = send
        self._on_failure = on_failure  # (destination, what send raised) → what callers get
        self._window_s = window_s
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queues: list[list[tuple[T, asyncio.Future[R]]]] = [[] for _ in range(destinations)]
        self._timers: list[asyncio.TimerHandle | None] = [None] * destinations
        self._in_flight = [0] * destinations
        self.batches = 0
        self.items = 0

    @property
    def destinations(self) -> int:
        return len(self._queues)

    def queue_lengths(self) -> list[int]:
        return [len(queue) for queue in self._queues]

    def grow(self, destinations: int) -> None:
        """At least this many destinations from now on (e.g. shards added by a resize)."""
        for _ in range(destinations - len(self._queues)):
            self._queues.append([])
            self._timers.append(None)
            self._in_flight.append(0)

    async def call(self, destination: int, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        queue = self._queues[destination]
        queue.append((item, future))
        if len(queue) >= self._max_batch:
            self._dispatch(destination)
        elif (
            self._timers[destination] is None and self._in_flight[destination] < self._max_in_flight
        ):
            # (With a send in flight, its return dispatches this queue: no timer needed.)
            self._timers[destination] = loop.call_later(self._window_s, self._dispatch, destination)
        return await future

    def _dispatch(self, destination: int) -> None:
        timer, self._timers[destination] = self._timers[destination], None
        if timer is not None:
            timer.cancel()
        queue = self._queues[destination]
        if self._in_flight[destination] >= self._max_in_flight or not queue:
            return
        batch = queue[: self._max_batch]
        del queue[: self._max_batch]
        self._in_flight[destination] += 1
        asyncio.get_running_loop().create_task(self._run(destination, batch))

    async def _run(self, destination: int, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await self._send(destination, [item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(self._on_failure(destination, exc))
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._in_flight[destination] -= 1
            self._dispatch(destination)  # what queued up while this batch was out goes now
