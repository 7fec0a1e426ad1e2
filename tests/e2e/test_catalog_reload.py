"""A bulk catalog load into a running stack, the README's way, reaches every replica, and an
unreadable change entry before it wedges nothing: later admin edits still show up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import pytest
from redis import Redis

from api.catalog.store import CHANGES_STREAM
from stack.local import PROJECT_ROOT, LocalStack
from tests.e2e.helpers import register

pytestmark = pytest.mark.e2e

EXTRA_TITLES = 300  # beyond the stack's demo catalog; enough to see, quick to load


async def _total(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    page = await client.get("/v1/content/browse", headers=auth, params={"limit": 1})
    return int(page.json()["pagination"]["total"])


async def test_bulk_load_after_a_poison_entry_is_served_everywhere(
    client: httpx.AsyncClient, stack: LocalStack
) -> None:
    viewer = await register(client)
    before = await _total(client, viewer.auth)
    redis = Redis.from_url(stack.env()["REDIS_URL"])
    try:
        redis.xadd(CHANGES_STREAM, {"unexpected": "field"})  # what wedged the follower
    finally:
        redis.close()
    loader = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "stack.load_catalog",
            "--titles",
            str(stack.catalog_titles + EXTRA_TITLES),
        ],
        env={**os.environ, **stack.env()},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert loader.returncode == 0, loader.stderr
    # Every replica must serve the bigger catalog: ask enough times to reach both.
    for _ in range(240):
        totals = {await _total(client, viewer.auth) for _ in range(6)}
        if min(totals) > before:
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail(f"replicas still serve {totals} titles (before: {before})")
    assert min(totals) > before
    # The skipped entry is in the replicas' own log files, where an SRE looks.
    logs = stack.ray_temp_dir / "session_latest" / "logs" / "serve"
    replica_logs = "".join(p.read_text(errors="replace") for p in logs.glob("replica_api_*.log"))
    assert "skipped, it has no ids" in replica_logs
