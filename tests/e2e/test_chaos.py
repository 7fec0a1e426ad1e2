"""The short chaos run (``make chaos`` is the long one): a shard kill and a Redis restart under
heartbeat load lose nothing acknowledged, never exceed a stream limit, and answer every error
with a 503 carrying ``Retry-After`` (no hangs). The stack is left healthy for later tests."""

from __future__ import annotations

import asyncio

import pytest

from loadtest.chaos import Chaos
from stack.local import LocalStack
from stack.stores import StoreKind

pytestmark = pytest.mark.e2e


async def test_shard_kill_and_redis_restart_lose_nothing(stack: LocalStack) -> None:
    chaos = Chaos(stack, viewers=16, racers=4, down_s=2.0, say=print)
    try:
        results = await chaos.run(["shard", "redis"])
    finally:
        # Whatever happened, the stores run again and the stack answers before the next test.
        kinds: tuple[StoreKind, ...] = ("redis", "mongodb")
        for kind in kinds:
            if stack.store(kind).died() is not None:
                await asyncio.to_thread(stack.start_store, kind)
        await asyncio.to_thread(stack.wait_ready, lambda line: None)
    for result in results:
        assert result.lost_writes == 0, result
        assert result.positions_checked == 16, result
        assert result.limit_violations == 0, result
        assert result.bare_503 == result.status_500 == result.other_5xx == 0, result.examples
        assert result.hangs == 0, result.examples
        assert result.recovery_s is not None, result
