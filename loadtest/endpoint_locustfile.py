"""A closed-loop Locust user that hammers one endpoint: the building block of ``make bench``.

Configured by environment (the runner sets it): ``BENCH_METHOD``, ``BENCH_PATHS`` (one or more
paths, newline-separated, used round-robin, all reported under ``BENCH_NAME``), optional
``BENCH_TOKEN`` (sent as a Bearer token) and ``BENCH_BODY`` (JSON). No think time: like
``wrk -c N``, each user sends its next request as soon as the last one answers, unless
``BENCH_RATE`` paces the users to that many requests per second in all.
"""

from __future__ import annotations

import itertools
import os

from locust import FastHttpUser, task

from loadtest.pacing import pacing


class EndpointUser(FastHttpUser):
    def wait_time(self) -> float:
        return self._pacing(self)  # type: ignore[no-any-return]

    def on_start(self) -> None:
        self._pacing = pacing(int(os.environ.get("BENCH_USERS", "1")))
        self.method = os.environ.get("BENCH_METHOD", "GET")
        paths = os.environ["BENCH_PATHS"].split("\n")
        self.targets = itertools.cycle(
            paths[self.environment.runner.user_count % len(paths) :] + paths
        )
        self.name = os.environ.get("BENCH_NAME", paths[0])
        self.body = os.environ.get("BENCH_BODY")
        token = os.environ.get("BENCH_TOKEN")
        self.request_headers = {"Content-Type": "application/json"}
        if token:
            self.request_headers["Authorization"] = f"Bearer {token}"
        if os.environ.get("BENCH_NO_CACHE") == "1":  # measure the work, not the response cache
            self.request_headers["Cache-Control"] = "no-cache"

    @task
    def hit(self) -> None:
        self.client.request(
            self.method,
            next(self.targets),
            headers=self.request_headers,
            data=self.body,
            name=self.name,
        )
