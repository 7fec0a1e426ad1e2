"""cancel_and_wait ends a task even when a library swallowed the cancellation, and never
swallows the caller's own."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from api.deps import Deps
from core.tasks import cancel_and_wait


async def _swallows_the_first_cancel() -> None:
    """What redis-py sometimes does: a cancelled command returns as if nothing happened."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)
    await asyncio.sleep(3600)  # runs on until cancelled again


async def test_a_swallowed_cancellation_is_sent_again() -> None:
    stubborn = asyncio.get_running_loop().create_task(_swallows_the_first_cancel())
    await asyncio.sleep(0)
    stubborn.cancel()  # the old way: one cancellation, and the task runs on
    await asyncio.sleep(0.1)
    assert not stubborn.done()
    await asyncio.wait_for(cancel_and_wait(stubborn), 5)
    assert stubborn.cancelled()


async def test_a_caller_cancelled_while_it_waits_is_cancelled() -> None:
    async def caller() -> None:
        inner = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        with contextlib.suppress(Exception):
            await asyncio.sleep(3600)  # cancelled here...
        await cancel_and_wait(inner)  # never reached

    task = asyncio.get_running_loop().create_task(caller())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_tasks_own_error_is_raised() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    task = asyncio.get_running_loop().create_task(fails_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait(task)


async def test_a_loop_of_real_redis_calls_always_stops(deps: Deps) -> None:
    """The case that hung the suite: a loop of Redis commands cancelled at random moments."""

    async def spin() -> None:
        while True:
            await deps.redis.xrange("tasks:test:nostream", count=10)

    for attempt in range(40):
        task = asyncio.get_running_loop().create_task(spin())
        await asyncio.sleep(0.001 * (attempt % 20))
        await asyncio.wait_for(cancel_and_wait(task), 10)
        assert task.done()
