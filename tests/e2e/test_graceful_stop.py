"""Ctrl-C on ``make run`` (``python -m stack``) writes every buffered update to MongoDB.

The stack runs with flush and persist intervals far longer than the test, so the only way an
acknowledged position can reach MongoDB is the drain that the graceful stop performs. The test
checks MongoDB before the stop (nothing there yet, so it can fail) and after it, on the stack's
own data directory, with a fresh MongoDB process once everything else has exited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from stack.local import PROJECT_ROOT
from stack.processes import free_port, wait_for_port
from stack.stores import start_mongo

pytestmark = pytest.mark.e2e


def _wait_for_banner(proc: subprocess.Popen[str], timeout_s: float) -> dict[str, str]:
    """The URLs ``python -m stack`` prints once it is ready."""
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"python -m stack exited early with {proc.wait()}")
        if line.startswith("ready: "):
            found["base_url"] = line.split()[1]
        if "MongoDB: " in line:
            found["mongodb_url"] = line.split("MongoDB: ")[1].split()[0]
            return found
    raise AssertionError("python -m stack did not become ready in time")


@pytest.fixture
def running_stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], Path]]:
    env = {
        key: value for key, value in os.environ.items() if key not in ("MONGODB_URL", "REDIS_URL")
    }
    env.update(
        STACK_PRIVATE_PORTS="1",
        STREAMING_DATA_DIR=str(tmp_path / "data"),
        PROGRESS_FLUSH_S="600",  # nothing is flushed on a timer during the test
        PROGRESS_PERSIST_S="600",
        DEMO_CATALOG_TITLES="300",
        MEDIA_POOL_CLIPS="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "stack"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc, _wait_for_banner(proc, 300), tmp_path / "data"
    finally:
        if proc.poll() is None:  # the test failed before its own stop
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=180)


def _progress(mongodb_url: str, profile_id: str) -> dict[str, int]:
    with MongoClient(mongodb_url, serverSelectionTimeoutMS=10_000) as client:
        docs = client.streaming.progress.find({"profile_id": profile_id})
        return {doc["asset_id"]: doc["position_ms"] for doc in docs}


def test_ctrl_c_flushes_every_acknowledged_position_to_mongodb(
    running_stack: tuple[subprocess.Popen[str], dict[str, str], Path],
) -> None:
    proc, urls, data_dir = running_stack
    with httpx.Client(base_url=urls["base_url"], timeout=30) as client:
        body = {"email": "stop@example.com", "password": "correct-horse-battery", "plan": "premium"}
        token = client.post("/v1/auth/register", json=body).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        profile = client.get("/v1/users/profiles", headers=auth).json()["profiles"][0]["id"]
        movies = client.get(
            "/v1/content/browse", headers=auth, params={"type": "movie", "limit": 3}
        ).json()["content"]
        expected: dict[str, int] = {}
        for number, movie in enumerate(movies):
            started = client.post(
                "/v1/playback/sessions",
                headers=auth,
                json={
                    "profile_id": profile,
                    "title_id": movie["id"],
                    "device": {"device_id": f"tv-{number}", "platform": "tv"},
                },
            )
            assert started.status_code == 201, started.text
            session = started.json()
            for beat in range(1, 6):
                position = beat * 10_000 + number
                update = client.put(
                    f"/v1/profiles/{profile}/progress",
                    headers=auth,
                    json={
                        "title_id": movie["id"],
                        "asset_id": session["asset_id"],
                        "position_ms": position,
                        "state": "playing" if beat < 5 or number else "paused",
                        "ts_ms": beat,
                        "session_id": session["session_id"],
                    },
                )
                assert update.status_code == 200 and update.json()["accepted"], update.text
            expected[session["asset_id"]] = position
    assert _progress(urls["mongodb_url"], profile) == {}, "flushed before the stop: no proof"

    proc.send_signal(signal.SIGINT)  # what Ctrl-C on `make run` sends
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, output
    assert "drained" in output and "stopped." in output, output

    port = free_port()
    mongo = start_mongo(data_dir / "mongo", port, data_dir / "logs")
    try:
        wait_for_port("127.0.0.1", port, 60, mongo.proc)
        assert _progress(f"mongodb://127.0.0.1:{port}/", profile) == expected
    finally:
        mongo.stop()
