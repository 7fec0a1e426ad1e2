"""Priority load shedding: when a replica is overloaded, refuse the least important requests
first, cheaply, before any body is decoded or any store is called.

Ray Serve has no request priority (``max_queued_requests`` refuses blindly), so each replica
judges its own load: requests in flight in the app pipeline, and how late its event loop runs
(a loop busy with work it cannot finish shows up as lag before it shows up anywhere else).
Routes carry a priority (:class:`api.http.Route`): ``critical`` (starting a stream, its license
and manifest, health), ``high`` (heartbeats, stopping), ``low`` (QoE and analytics events,
browse, search, everything else). Past the low bar, low requests answer 503 with
``Retry-After``; past the high bar, high ones too; critical ones never are (Serve's
``max_ongoing_requests`` is their backstop).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Literal

from core.config import SheddingConfig

Priority = Literal["critical", "high", "low"]
PRIORITIES: tuple[Priority, ...] = ("critical", "high", "low")


class LoopLag:
    """How late the event loop wakes a sleeper, sampled every ``every_s``: the recent worst,
    decaying by half each sample so a single stall does not shed for long."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.every_s = every_s
        self.lag_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sample(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.every_s)
            late_ms = max(0.0, (time.perf_counter() - asked - self.every_s) * 1000)
            self.lag_ms = max(late_ms, self.lag_ms / 2)


class Shedder:
    """The admission decision for one replica; :meth:`admit` is called once per request."""

    def __init__(self, on_shed: Callable[[Priority], None] | None = None) -> None:
        self.config = SheddingConfig()
        self.lag = LoopLag()
        self.in_flight = 0
        self.shed: dict[Priority, int] = dict.fromkeys(PRIORITIES, 0)
        self.on_shed = on_shed

    def configure(self, config: SheddingConfig) -> None:
        self.config = config

    def admit(self, priority: Priority) -> bool:
        """False: refuse this request now (503 + Retry-After)."""
        config = self.config
        if priority == "critical" or not config.enabled:
            return True
        busy = self.in_flight >= config.lag_min_in_flight
        lag = self.lag.lag_ms if busy else 0.0
        if priority == "low":
            overloaded = self.in_flight >= config.low_in_flight or lag >= config.low_lag_ms
        else:
            overloaded = self.in_flight >= config.high_in_flight or lag >= config.high_lag_ms
        if overloaded:
            self.shed[priority] += 1
            if self.on_shed is not None:
                self.on_shed(priority)
        return not overloaded
