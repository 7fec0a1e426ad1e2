"""Playback load for ``make bench``: every user is its own viewer.

``on_start`` (reported as ``setup``): take the next account of ``BENCH_ACCOUNTS`` (a file from
``python -m loadtest.provision``) or, without one, register a new account; take its profile and
start a session on a movie. Then, by ``BENCH_MODE``: ``heartbeat`` sends progress updates
(positions move forward, player timestamps increase); ``start`` restarts its session on the same
device (the replace path of a session start). Measured requests are named ``BENCH_NAME``.

Closed loop (each user sends as soon as answered) unless ``BENCH_RATE`` is set: then the users
together offer that many requests per second (paced, for latency at a given load).
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
from pathlib import Path

from locust import FastHttpUser, task

from loadtest.pacing import pacing

_ACCOUNTS_FILE = os.environ.get("BENCH_ACCOUNTS", "")
_ACCOUNTS = json.loads(Path(_ACCOUNTS_FILE).read_text())["accounts"] if _ACCOUNTS_FILE else []
_NEXT_ACCOUNT = itertools.count()


class Viewer(FastHttpUser):
    def wait_time(self) -> float:
        return self._pacing(self)  # type: ignore[no-any-return]

    def on_start(self) -> None:
        self._pacing = pacing(int(os.environ.get("BENCH_USERS", "1")))
        self.mode = os.environ.get("BENCH_MODE", "heartbeat")
        self.measured = os.environ.get("BENCH_NAME", self.mode)
        # One device per account across passes: a later pass restarts (replaces) the earlier
        # pass's session instead of taking another slot while the old lease runs out.
        self.device = secrets.token_hex(4)
        if _ACCOUNTS:
            index = next(_NEXT_ACCOUNT) % len(_ACCOUNTS)
            account = _ACCOUNTS[index]
            token, self.profile = account["access_token"], account["profile_id"]
            self.auth = {"Authorization": f"Bearer {token}"}
            self.device = f"bench-{index}"
        else:
            email = f"viewer-{secrets.token_hex(6)}@bench.example"
            body = {"email": email, "password": "bench-password", "plan": "premium"}
            token = self.client.post("/v1/auth/register", json=body, name="setup").json()[
                "access_token"
            ]
            self.auth = {"Authorization": f"Bearer {token}"}
            profiles = self.client.get("/v1/users/profiles", headers=self.auth, name="setup")
            self.profile = profiles.json()["profiles"][0]["id"]
        self.title = os.environ.get("BENCH_TITLE", "t_000002")
        session = self._start("setup")
        self.asset, self.session_id = session["asset_id"], session["session_id"]
        self.position = 0
        self.ts = 0

    def _start(self, name: str) -> dict[str, str]:
        body = {
            "profile_id": self.profile,
            "title_id": self.title,
            "device": {"device_id": self.device, "platform": "web"},
        }
        response = self.client.post(
            "/v1/playback/sessions", json=body, headers=self.auth, name=name
        )
        return response.json()  # type: ignore[no-any-return]

    @task
    def play(self) -> None:
        if self.mode == "start":
            self._start(self.measured)
            return
        # The player's clock: later than any earlier pass's updates on this same account.
        self.ts = max(self.ts + 1, int(time.time() * 1000))
        self.position = (self.position + 10_000) % 3_000_000
        self.client.put(
            f"/v1/profiles/{self.profile}/progress",
            json={
                "title_id": self.title,
                "asset_id": self.asset,
                "position_ms": self.position,
                "state": "playing",
                "ts_ms": self.ts,
                "session_id": self.session_id,
            },
            headers=self.auth,
            name=self.measured,
        )
