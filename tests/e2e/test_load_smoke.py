"""The load-test suite as a CI smoke: provisioned accounts, a short headless Locust run of
``loadtest/locustfile.py`` with 1 s heartbeats, then proof in MongoDB that it really played.

Each of the users owns one provisioned account, so every stream-limit answer is predictable and
any failure (a 409 where a slot was free, a 429, a license with the wrong key, a 5xx) fails it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from stack.local import PROJECT_ROOT, LocalStack

pytestmark = pytest.mark.e2e

USERS = 20
RUN_S = 25
# Names the locustfile reports under; each must have been exercised.
EXERCISED = (
    ("TTFF", "time to first frame"),
    ("LAG", "heartbeat lag"),
    ("GET", "/v1/home"),
    ("GET", "/v1/search"),
    ("GET", "/v1/titles/{id}"),
    ("POST", "POST /v1/playback/sessions"),
    ("GET", "origin manifest"),
    ("POST", "POST /v1/drm/licenses"),
    ("PUT", "PUT /v1/profiles/{id}/progress"),
    ("POST", "POST /v1/playback/events"),
    ("POST", "POST /v1/playback/sessions (second device)"),
    ("POST", "POST /v1/streaming/{id}/stop"),
)


def _provision(stack: LocalStack, out: Path) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, "-m", "loadtest.provision", "--count", str(USERS), "--out", str(out)],
        env={**os.environ, **stack.env()},
        cwd=PROJECT_ROOT,
        check=True,
        timeout=120,
    )
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _locust(stack: LocalStack, accounts: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    """Compressed time: 1 s beats, short plays, frequent QoE events and second devices."""
    options = {
        "--users": USERS,
        "--spawn-rate": 10,
        "--run-time": f"{RUN_S}s",
        "--csv": prefix,
        "--html": f"{prefix}.html",
        "--accounts-file": accounts,
        "--heartbeat-interval": 1,
        "--think-time": "0.2-1",
        "--watch-beats": "3-8",
        "--finish-ratio": 0.7,
        "--second-device-ratio": 0.5,
        "--qoe-events-per-min": 12,
        "--max-failure-ratio": 0,
        # Latency is not what a smoke on a shared 2-core runner can promise; correctness is.
        "--max-p95-ms": 10_000,
    }
    command = [sys.executable, "-m", "locust", "-f", "loadtest/locustfile.py", "--headless"]
    command += ["--host", stack.base_url, *(str(part) for item in options.items() for part in item)]
    return subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_S + 90,
    )


def _stats(prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(f"{prefix}_stats.csv") as handle:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}


def _wait_for(probe: Any, timeout_s: float = 20) -> Any:
    """Poll until ``probe()`` is truthy (shards flush every second here); its last value."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return value


def test_a_short_locust_run_plays_for_real_without_failures(
    stack: LocalStack, tmp_path: Path
) -> None:
    fixture = _provision(stack, tmp_path / "accounts.json")
    assert len(fixture["accounts"]) == USERS
    prefix = tmp_path / "smoke"
    run = _locust(stack, tmp_path / "accounts.json", prefix)
    output = f"{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    assert run.returncode == 0, output  # the quitting hook's verdict: no threshold broken
    assert "[thresholds] passed" in run.stderr, output

    stats = _stats(prefix)
    total = stats[("", "Aggregated")]
    assert int(total["Failure Count"]) == 0, (Path(f"{prefix}_failures.csv").read_text(), output)
    for key in EXERCISED:
        assert key in stats and int(stats[key]["Request Count"]) > 0, (key, sorted(stats))
    assert Path(f"{prefix}.html").stat().st_size > 0

    profiles = [row["profile_id"] for row in fixture["accounts"]]
    accounts = [row["account_id"] for row in fixture["accounts"]]
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:
        db = mongo.streaming
        # Plays reached MongoDB: progress for most viewers, and a finish in someone's history.
        played = _wait_for(
            lambda: (
                len(db.progress.distinct("profile_id", {"profile_id": {"$in": profiles}}))
                >= USERS // 2
            )
        )
        assert played, db.progress.count_documents({"profile_id": {"$in": profiles}})
        assert _wait_for(
            lambda: db.progress.find_one({"profile_id": {"$in": profiles}, "watched": True})
        ), "no play of the smoke run reached history as watched"
        # Sessions: their QoE events were journaled and bulk-written, from start to end.
        mine = {"account_id": {"$in": accounts}, "kind": "playback"}
        sessions = _wait_for(lambda: len(db.events.distinct("session_id", mine)) >= USERS // 2)
        assert sessions, db.events.count_documents(mine)
        assert {"start", "end"} <= set(db.events.distinct("event", mine))
    finally:
        mongo.close()
