"""Closed loop or paced: the one knob every benchmark locustfile shares."""

from __future__ import annotations

import os
from collections.abc import Callable

from locust import constant, constant_throughput


def pacing(users: int) -> Callable[..., float]:
    """``constant(0)`` (closed loop: send as soon as answered), or, with ``BENCH_RATE`` set,
    each user's share of that many requests per second, so the users together offer a fixed
    load and latency can be read at it."""
    rate = float(os.environ.get("BENCH_RATE", "0"))
    return constant_throughput(rate / users) if rate > 0 else constant(0)
