"""CPU and memory of each kind of process on this host, sampled around a benchmark pass.

A request's cost is spread over HAProxy, an ingress replica, a shard actor, Redis and MongoDB,
all on the same cores as the load generator. Summing CPU seconds per kind over a pass, divided
by the requests it served, tells where the cores go (and what the capacity model scales).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

# First match wins: (kind, substring of the command line).
KINDS: tuple[tuple[str, str], ...] = (
    ("ingress replica", "ServeReplica:api:Ingress"),
    ("hello replica", "ServeReplica:hello"),
    ("shard actor", "ray::ShardActor"),
    ("ingest coordinator", "ray::IngestCoordinator"),
    ("shard director", "ray::ShardDirector"),
    ("haproxy", "haproxy"),
    ("mongodb", "secantusd"),
    ("redis", "redis-server"),
    ("load generator", "locust"),
    ("media origin", "media.origin"),
    ("ray system", "ray"),
)


def kind_of(cmdline: Iterable[str]) -> str | None:
    line = " ".join(cmdline)
    return next((kind for kind, marker in KINDS if marker in line), None)


@dataclass(frozen=True)
class Proc:
    kind: str
    cpu_s: float  # user + system since the process started
    rss_bytes: int


def _belongs(proc: psutil.Process, kind: str, markers: tuple[str, ...]) -> bool:
    """A process of the stack under test, or our own load generator: another stack on the
    same host is left out. A stack's process carries its STREAMING_DATA_DIR in its
    environment, or one of ``markers`` (data dir, store address) on its command line."""
    if not markers:
        return True
    if kind == "load generator":
        return proc.ppid() == os.getpid()
    if any(marker in part for part in proc.cmdline() for marker in markers):
        return True
    return proc.environ().get("STREAMING_DATA_DIR") in markers


def sample(markers: tuple[str, ...] = ()) -> dict[int, Proc]:
    """Every process of a known kind on this host (of one stack, see :func:`_belongs`)."""
    found: dict[int, Proc] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            kind = kind_of(proc.info["cmdline"] or ())
            if kind is not None and _belongs(proc, kind, markers):
                times = proc.cpu_times()
                found[proc.pid] = Proc(kind, times.user + times.system, proc.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@dataclass
class Usage:
    """Per kind: CPU seconds spent between two samples, RSS and process count at the second."""

    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_bytes: dict[str, int] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)


def between(before: dict[int, Proc], after: dict[int, Proc]) -> Usage:
    usage = Usage()
    for pid, proc in after.items():
        earlier = before.get(pid)
        spent = proc.cpu_s - (earlier.cpu_s if earlier else 0.0)
        usage.cpu_s[proc.kind] = usage.cpu_s.get(proc.kind, 0.0) + spent
        usage.rss_bytes[proc.kind] = usage.rss_bytes.get(proc.kind, 0) + proc.rss_bytes
        usage.count[proc.kind] = usage.count.get(proc.kind, 0) + 1
    return usage
