"""The playback tier's Prometheus metrics appear on the node's metrics port after traffic."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from stack.local import LocalStack
from tests.e2e.helpers import first_profile, first_title, register

pytestmark = pytest.mark.e2e

EXPECTED = (
    "ray_api_requests_total",
    "ray_shard_active_streams",
    "ray_shard_ops_total",
    "ray_shard_refused_total",
    "ray_shard_buffered_progress",
    "ray_shard_journal_depth",
    "ray_shard_batch_size",
    "ray_shard_flush_documents",
    "ray_shard_flush_lag_seconds",
    "ray_group_commit_queue_length",
)


async def test_playback_metrics_are_exported(stack: LocalStack, client: httpx.AsyncClient) -> None:
    user = await register(client, plan="basic")
    profile = await first_profile(client, user)
    movie = await first_title(client, user, type="movie")
    body = {
        "profile_id": profile,
        "title_id": movie["id"],
        "device": {"device_id": "tv", "platform": "tv"},
    }
    session = (await client.post("/v1/playback/sessions", headers=user.auth, json=body)).json()
    refused = await client.post(
        "/v1/playback/sessions",
        headers=user.auth,
        json={**body, "device": {"device_id": "phone", "platform": "mobile"}},
    )
    assert refused.status_code == 409
    for second in range(3):
        await client.put(
            f"/v1/profiles/{profile}/progress",
            headers=user.auth,
            json={
                "title_id": movie["id"],
                "asset_id": session["asset_id"],
                "position_ms": second * 1000,
                "state": "playing",
            },
        )
    text = ""
    markers = (
        *EXPECTED,
        'reason="STREAM_LIMIT_REACHED"',
        'code="STREAM_LIMIT_REACHED"',
        'route="/v1/playback/sessions"',
    )
    deadline = time.monotonic() + 120  # Ray exports every few seconds; a loaded CI box is slower
    async with httpx.AsyncClient(timeout=10) as scraper:
        while time.monotonic() < deadline:
            text = (
                await scraper.get(f"http://127.0.0.1:{stack.ports.metrics_export}/metrics")
            ).text
            if all(marker in text for marker in markers):
                break
            await asyncio.sleep(2)
    missing = [marker for marker in markers if marker not in text]
    assert not missing, f"not exported: {missing}"
