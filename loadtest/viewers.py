"""Viewers for the playback load generators (``shedding_bench``, ``openloop``, ``profile_hot_path``):
accounts with a live session each, and the requests they send.

Three kinds of request, the same in every generator: ``hello`` (``GET /bench/hello/``, the
ceiling), ``heartbeat`` (``PUT /v1/profiles/{id}/progress`` naming the viewer's live session,
positions moving forward) and ``session start`` (``POST /v1/playback/sessions`` from the same
device: the replace path of a restart). Restarts get accounts of their own (the first
``starters``), so no heartbeat or QoE event names a session a restart just ended.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from loadtest.provision import provision_into
from stack.local import LocalStack

KINDS = ("hello", "heartbeat", "session start")


@dataclass
class ClassResult:
    """One class of requests' outcomes: 2xx (with latency), 503 + Retry-After, anything else."""

    requests: int = 0
    ok: int = 0
    shed_503: int = 0  # 503 with Retry-After
    failed: int = 0  # anything else: other status, no answer
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def add(self, status: int | None, retry_after: bool, latency_ms: float) -> None:
        self.requests += 1
        if status is not None and status < 300:
            self.ok += 1
            self.latencies_ms.append(latency_ms)
        elif status == 503 and retry_after:
            self.shed_503 += 1
        else:
            self.failed += 1

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None

        return {
            "requests": self.requests,
            "success": round(self.ok / self.requests, 4) if self.requests else None,
            "shed_503": self.shed_503,
            "failed": self.failed,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
        }


async def prepare(stack: LocalStack, count: int) -> list[dict[str, str]]:
    """``count`` premium accounts, each with a session on the same movie from device
    ``bench-{index}``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = await asyncio.to_thread(
            provision_into, stack.env(), count, Path(tmp) / "a.json", "premium=1"
        )
        accounts = json.loads(path.read_text())["accounts"]
    viewers = []
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        auth0 = {"Authorization": f"Bearer {accounts[0]['access_token']}"}
        browse = await client.get("/v1/content/browse", headers=auth0, params={"limit": 50})
        browse.raise_for_status()
        title_id = next(t["id"] for t in browse.json()["content"] if t.get("type") != "series")
        for index, account in enumerate(accounts):
            auth = {"Authorization": f"Bearer {account['access_token']}"}
            body = {
                "profile_id": account["profile_id"],
                "title_id": title_id,
                "device": {"device_id": f"bench-{index}", "platform": "web"},
            }
            started = await client.post("/v1/playback/sessions", headers=auth, json=body)
            started.raise_for_status()
            session = started.json()
            viewers.append(
                {
                    "token": account["access_token"],
                    "profile_id": account["profile_id"],
                    "title_id": title_id,
                    "asset_id": session["asset_id"],
                    "session_id": session["session_id"],
                    "device_id": f"bench-{index}",
                }
            )
    return viewers


class Viewers:
    """Who sends request ``index`` of a kind, and what it sends."""

    def __init__(self, viewers: list[dict[str, str]], starters: int) -> None:
        self.starters, self.watchers = viewers[:starters], viewers[starters:]
        self.positions = {v["profile_id"]: 0 for v in viewers}

    def request(self, kind: str, index: int) -> tuple[dict[str, str], str, str, Any]:
        """(viewer, method, path, JSON body or None) of request ``index`` of ``kind``."""
        group = self.starters if kind == "session start" else self.watchers
        viewer = group[index % len(group)]
        if kind == "hello":
            return viewer, "GET", "/bench/hello/", None
        if kind == "heartbeat":
            self.positions[viewer["profile_id"]] += 100
            position = self.positions[viewer["profile_id"]]
            body = {
                "title_id": viewer["title_id"],
                "asset_id": viewer["asset_id"],
                "position_ms": position,
                "state": "playing",
                "ts_ms": 1_000_000 + position,
                "session_id": viewer["session_id"],
            }
            return viewer, "PUT", f"/v1/profiles/{viewer['profile_id']}/progress", body
        body = {
            "profile_id": viewer["profile_id"],
            "title_id": viewer["title_id"],
            "device": {"device_id": viewer["device_id"], "platform": "web"},
        }
        return viewer, "POST", "/v1/playback/sessions", body

    async def one(self, client: aiohttp.ClientSession, kind: str, index: int, scheduled: float,
                  into: ClassResult) -> None:  # fmt: skip
        """Send request ``index`` of ``kind``; its latency counts from ``scheduled`` (a
        ``time.monotonic()``), so an open-loop generator's queueing shows up as latency."""
        viewer, method, path, body = self.request(kind, index)
        auth = {"Authorization": f"Bearer {viewer['token']}"}
        try:
            async with client.request(method, path, headers=auth, json=body) as response:
                raw = await response.read()
                status, retry = response.status, "Retry-After" in response.headers
            if kind == "session start" and status == 201:
                viewer["session_id"] = json.loads(raw)["session_id"]
        except (aiohttp.ClientError, TimeoutError):
            status, retry = None, False
        into.add(status, retry, (time.monotonic() - scheduled) * 1000)
