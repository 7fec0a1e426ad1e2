"""Serve's per-request receive queue, bounded: a fast client waits instead of filling memory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from ray.serve._private import constants
from ray.serve._private.direct_ingress_http_util import ASGIDIReceiveProxy

from deployments import serve_backpressure

BODY_MESSAGES = 500


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = ASGIDIReceiveProxy.__dict__["queue"]
    monkeypatch.setattr(constants, "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", False)
    assert serve_backpressure.install()
    yield
    ASGIDIReceiveProxy.queue = original  # type: ignore[method-assign]


async def _fill(proxy: ASGIDIReceiveProxy) -> tuple[asyncio.Task[object], list[int]]:
    """Start Serve's reader on a client that sends BODY_MESSAGES at once; let it run."""
    sent: list[int] = []

    async def receive() -> dict[str, object]:
        sent.append(len(sent))
        if len(sent) > BODY_MESSAGES:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    proxy._receive = receive
    reader = proxy.fetch_until_disconnect_task()
    for _ in range(50):
        await asyncio.sleep(0)
    return reader, sent


async def test_the_reader_waits_for_the_handler_once_the_queue_is_full(patched: None) -> None:
    proxy = ASGIDIReceiveProxy({"type": "http"}, None, asyncio.get_running_loop())  # type: ignore[arg-type]
    reader, sent = await _fill(proxy)
    assert proxy.queue.qsize() == serve_backpressure.MAX_QUEUED_MESSAGES
    assert len(sent) <= serve_backpressure.MAX_QUEUED_MESSAGES + 1  # read, waiting to queue
    bodies = 0
    while (await proxy())["type"] == "http.request":
        bodies += 1
    assert bodies == BODY_MESSAGES  # nothing lost, in the end the disconnect
    await reader


async def test_serve_unpatched_queues_the_whole_body() -> None:
    """The control: what the patch exists for (if Ray bounds it one day, drop the patch)."""
    proxy = ASGIDIReceiveProxy({"type": "http"}, None, asyncio.get_running_loop())  # type: ignore[arg-type]
    reader, _ = await _fill(proxy)
    assert proxy.queue.qsize() > serve_backpressure.MAX_QUEUED_MESSAGES
    reader.cancel()


def test_not_installed_when_user_code_runs_on_a_separate_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(constants, "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", True)
    assert not serve_backpressure.install()
