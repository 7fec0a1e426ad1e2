"""Stopping background tasks, even when a library swallows the cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

# How long one cancellation gets before it is sent again.
RECANCEL_S = 0.25


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended; its own error (not a cancellation) is raised.

    The cancellation is sent again until the task ends: redis-py (8.1, Python 3.11) sometimes
    swallows a ``CancelledError`` that arrives during a command, and the command then returns
    as if nothing happened (reproduced here within a few tries of cancelling a loop of XRANGE
    calls; redis/redis-py#2028 and #2551 are older cases of it). A background loop cancelled
    once at such a moment runs on forever, and whoever waits for it waits forever: that hung
    the test suite in a catalog follower's ``stop()``. The next cancellation lands elsewhere
    (a sleep, another await) and ends it.

    The caller's own cancellation while it waits is never swallowed.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=RECANCEL_S)
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error
