"""Group commit: many concurrent calls, one send per shard per window, each gets its own result."""

from __future__ import annotations

import asyncio

import pytest

from actors.client import GroupCommit
from actors.state import Changes, ShardState
from core.protocol import Done, GetSession, Refused, decode_ops, encode
from core.shards import ShardUnavailable


class Router:
    """Routes ``a<n>`` to shard n % count (0 for any other id); counts refreshes."""

    def __init__(self, count: int = 1) -> None:
        self.count = count
        self.refreshes = 0

    def route(self, account_id: str) -> int:
        return int(account_id[1:]) % self.count if account_id[1:].isdigit() else 0

    async def refresh(self) -> bool:
        self.refreshes += 1
        return False


def _in_process(shards: list[ShardState], sent: list[tuple[int, int]]) -> GroupCommit:
    async def send(shard: int, payload: bytes) -> bytes:
        ops = decode_ops(payload)
        sent.append((shard, len(ops)))
        changes = Changes()
        return encode([shards[shard].apply(op, changes) for op in ops])

    return GroupCommit(send, Router(len(shards)), window_s=0.005)


async def test_concurrent_calls_share_one_send_per_shard() -> None:
    sent: list[tuple[int, int]] = []
    client = _in_process([ShardState(), ShardState()], sent)
    ops = [GetSession(account_id=f"a{i}", now_ms=0, session_id=f"s{i}") for i in range(40)]
    results = await asyncio.gather(*(client.call(op) for op in ops))
    assert all(isinstance(r, Refused) and r.code == "SESSION_NOT_FOUND" for r in results)
    assert sorted(sent) == [(0, 20), (1, 20)]
    assert client.batches == 2 and client.ops == 40


async def test_a_full_queue_goes_out_before_the_window() -> None:
    sent: list[tuple[int, int]] = []

    async def send(shard: int, payload: bytes) -> bytes:
        ops = decode_ops(payload)
        sent.append((shard, len(ops)))
        return encode([Done() for _ in ops])

    client = GroupCommit(send, Router(), window_s=10.0, max_batch=4)
    ops = [GetSession(account_id="a", now_ms=0, session_id=str(i)) for i in range(4)]
    results = await asyncio.wait_for(asyncio.gather(*(client.call(op) for op in ops)), 1.0)
    assert len(results) == 4 and sent == [(0, 4)]


async def test_a_failed_send_fails_every_waiter_with_shard_unavailable() -> None:
    async def send(shard: int, payload: bytes) -> bytes:
        raise ConnectionError("actor died")

    client = GroupCommit(send, Router(), window_s=0.001)
    calls = [client.call(GetSession(account_id="a", now_ms=0, session_id=str(i))) for i in range(3)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, ShardUnavailable) for o in outcomes)
    with pytest.raises(ShardUnavailable):
        await client.call(GetSession(account_id="a", now_ms=0, session_id="x"))


async def test_calls_queued_behind_a_batch_in_flight_go_out_together_when_it_returns() -> None:
    sent: list[int] = []
    release = asyncio.Event()

    async def send(shard: int, payload: bytes) -> bytes:
        ops = decode_ops(payload)
        sent.append(len(ops))
        if len(sent) == 1:
            await release.wait()  # hold the first batch in flight
        return encode([Done() for _ in ops])

    client = GroupCommit(send, Router(), window_s=0.001)
    first = asyncio.ensure_future(client.call(GetSession(account_id="a", now_ms=0, session_id="0")))
    await asyncio.sleep(0.01)
    assert sent == [1]
    later = [
        asyncio.ensure_future(client.call(GetSession(account_id="a", now_ms=0, session_id=str(i))))
        for i in range(1, 6)
    ]
    await asyncio.sleep(0.01)
    assert sent == [1], "nothing else is sent while the shard's one call is out"
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 1.0)
    assert sent == [1, 5]
