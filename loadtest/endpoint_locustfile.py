"""A closed-loop Locust user that hammers one endpoint: the building block of ``make bench``.

Configured by environment (the runner sets it): ``BENCH_METHOD``, ``BENCH_PATH``, optional
``BENCH_TOKEN`` (sent as a Bearer token) and ``BENCH_BODY`` (JSON). No think time: like
``wrk -c N``, each user sends its next request as soon as the last one answers.
"""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task


class EndpointUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.method = os.environ.get("BENCH_METHOD", "GET")
        self.target = os.environ["BENCH_PATH"]
        self.body = os.environ.get("BENCH_BODY")
        token = os.environ.get("BENCH_TOKEN")
        self.request_headers = {"Content-Type": "application/json"}
        if token:
            self.request_headers["Authorization"] = f"Bearer {token}"

    @task
    def hit(self) -> None:
        self.client.request(
            self.method, self.target, headers=self.request_headers, data=self.body, name=self.target
        )
