"""The batcher under both group commits: per-caller results and failures."""

from __future__ import annotations

import asyncio

import pytest

from core.batching import Batcher


async def test_an_item_level_error_fails_only_its_caller() -> None:
    async def send(_: int, items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {i}") if i < 0 else i * 2 for i in items]

    batcher: Batcher[int, int] = Batcher(send, 1)
    outcomes = await asyncio.gather(
        *(batcher.call(0, i) for i in (1, -1, 3)), return_exceptions=True
    )
    assert outcomes[0] == 2 and outcomes[2] == 6
    assert isinstance(outcomes[1], ValueError)
    assert batcher.batches == 1 and batcher.items == 3


async def test_a_failed_send_reaches_every_caller_as_on_failure_says() -> None:
    async def send(_: int, items: list[int]) -> list[int | BaseException]:
        raise ConnectionError("down")

    plain: Batcher[int, int] = Batcher(send, 1)
    with pytest.raises(ConnectionError):
        await plain.call(0, 1)
    wrapped: Batcher[int, int] = Batcher(
        send, 1, on_failure=lambda dest, exc: LookupError(f"{dest}: {exc}")
    )
    outcomes = await asyncio.gather(*(wrapped.call(0, i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, LookupError) and "0: down" in str(o) for o in outcomes)
