"""Closed-loop playback load for ``make bench``: every user is its own viewer.

``on_start`` (reported as ``setup``): register an account, take its profile, start a session on
a movie. Then, by ``BENCH_MODE``: ``heartbeat`` sends progress updates as fast as answered
(positions move forward, player timestamps increase); ``start`` restarts its session on the
same device (the replace path of a session start). Measured requests are named ``BENCH_NAME``.
"""

from __future__ import annotations

import os
import secrets

from locust import FastHttpUser, constant, task


class Viewer(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.mode = os.environ.get("BENCH_MODE", "heartbeat")
        self.measured = os.environ.get("BENCH_NAME", self.mode)
        email = f"viewer-{secrets.token_hex(6)}@bench.example"
        body = {"email": email, "password": "bench-password", "plan": "premium"}
        token = self.client.post("/v1/auth/register", json=body, name="setup").json()[
            "access_token"
        ]
        self.auth = {"Authorization": f"Bearer {token}"}
        profiles = self.client.get("/v1/users/profiles", headers=self.auth, name="setup").json()
        self.profile = profiles["profiles"][0]["id"]
        self.title = os.environ.get("BENCH_TITLE", "t_000002")
        self.device = secrets.token_hex(4)
        session = self._start("setup")
        self.asset, self.session_id = session["asset_id"], session["session_id"]
        self.duration_ms = 3_600_000
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
        self.ts += 1
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
