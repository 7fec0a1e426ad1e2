"""Every metric the alert rules and the Grafana dashboard query is on the stack's metrics endpoints
(Ray's, and HAProxy's for the ``haproxy_*`` ones).

The unit test (tests/unit/test_deploy_artifacts.py) checks the names against the code; this one
checks them against what a running stack really exports, after the traffic that makes each one
appear: a session start and a stream-limit refusal (``shard_refused_total``), heartbeats (shard
ops, batches), a flush (``PROGRESS_FLUSH_S=1`` in the e2e stack: flush lag and documents), a
download request (``downloads_total``), and the health checks that set the replicas' gauges.
Every label a rule or panel selects a metric by (``{op="Heartbeat"}``, ``{reason=...}``) must be
on the exported series, and Ray's own ``ray_actors`` must carry the shard actors (the ShardDown
rule filters on ``Name="ShardActor"``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from stack.local import LocalStack
from tests.e2e.helpers import first_profile, first_title, register

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _catalog() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "metrics_catalog", ROOT / "deploy" / "metrics_catalog.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


catalog = _catalog()
SHARD_ACTORS = re.compile(r'^ray_actors\{[^}]*Name="ShardActor"', re.MULTILINE)


async def _traffic(client: httpx.AsyncClient) -> None:
    user = await register(client, plan="basic")
    profile = await first_profile(client, user)
    movie = await first_title(client, user, type="movie")
    body = {
        "profile_id": profile,
        "title_id": movie["id"],
        "device": {"device_id": "tv", "platform": "tv"},
    }
    started = await client.post("/v1/playback/sessions", headers=user.auth, json=body)
    assert started.status_code == 201, started.text
    session = started.json()
    refused = await client.post(
        "/v1/playback/sessions",
        headers=user.auth,
        json={**body, "device": {"device_id": "phone", "platform": "mobile"}},
    )
    assert refused.status_code == 409, refused.text  # basic plan: one stream
    for second in range(3):
        beat = await client.put(
            f"/v1/profiles/{profile}/progress",
            headers=user.auth,
            json={
                "title_id": movie["id"],
                "asset_id": session["asset_id"],
                "position_ms": (second + 1) * 1000,
                "state": "playing",
            },
        )
        assert beat.status_code < 300, beat.text
    grant = await client.post(  # counted in downloads_total whatever the outcome
        "/v1/downloads",
        headers=user.auth,
        json={"profile_id": profile, "asset_id": "a_nope", "device_id": "d"},
    )
    assert grant.status_code == 404, grant.text


async def test_every_queried_metric_is_exported(
    stack: LocalStack, client: httpx.AsyncClient
) -> None:
    queried = catalog.queried_names()
    assert queried, "no metric names found in the alert rules and the dashboard"
    await _traffic(client)
    # Ray's endpoint for the service's and Ray's metrics, HAProxy's own for haproxy_*.
    urls = [
        f"http://127.0.0.1:{stack.ports.metrics_export}/metrics",
        f"http://127.0.0.1:{stack.ports.haproxy_metrics}/metrics",
    ]
    text, missing = "", sorted(queried)
    deadline = time.monotonic() + 150  # Ray exports every few seconds; replicas' gauges every 10 s
    async with httpx.AsyncClient(timeout=10) as scraper:
        while time.monotonic() < deadline:
            text = "\n".join([(await scraper.get(url)).text for url in urls])
            exported = catalog.scraped_names(text)
            missing = [name for name in sorted(queried) if name not in exported]
            if not missing and SHARD_ACTORS.search(text):
                break
            await asyncio.sleep(3)
    assert not missing, "queried but not exported: " + "; ".join(
        f"{name} (by {', '.join(sorted(queried[name]))})" for name in missing
    )
    labels = catalog.scraped_labels(text)
    unlabelled = {
        metric: sorted(wanted - labels.get(metric, set()))
        for metric, wanted in catalog.queried_labels().items()
        if wanted - labels.get(metric, set())
    }
    assert not unlabelled, f"selected by labels the exported series do not carry: {unlabelled}"
    actors = sorted(
        {line.split(" ")[0] for line in text.splitlines() if line.startswith("ray_actors{")}
    )
    assert SHARD_ACTORS.search(text), f'no ray_actors series with Name="ShardActor": {actors[:10]}'
