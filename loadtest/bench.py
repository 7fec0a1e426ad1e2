"""``make bench``: the numbers a performance engineer needs, in one run, into ``docs/benchmarks.md``.

Starts a private stack (or targets ``BASE_URL``), provisions accounts, then measures side by side:

1. **Closed loop** (Locust ``FastHttpUser``, users send as soon as answered): the hello-world
   Serve endpoint (the ceiling), profiles, browse, search, the heartbeat path, the same heartbeats
   with the shards' buffer switched off (write-through: one MongoDB write per heartbeat) and session
   start. ``--runs`` interleaved passes each, so drift on a shared machine hits every scenario
   alike; the table shows medians. Around every pass: CPU seconds and memory of each process kind
   (:mod:`loadtest.procstats`) and MongoDB writes (``serverStatus`` opcounters).
2. **Paced**: hello and heartbeats offered at fixed fractions of the measured ceiling, for latency
   against load (the plot) and p99 at 70 % of the ceiling.
3. **Viewers**: :mod:`loadtest.locustfile` with 1,000 viewers heartbeating every 10 s (about 100
   heartbeats/s), the real cadence, for p99 and MongoDB documents per heartbeat in steady state.

Absolute numbers vary run to run on shared machines; ratios travel.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loadtest import procstats
from loadtest.provision import provision_into

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).parent
LOCUSTFILE = HERE / "endpoint_locustfile.py"
PLAYBACK_LOCUSTFILE = HERE / "playback_locustfile.py"
VIEWER_LOCUSTFILE = HERE / "locustfile.py"
HELLO = "hello-world Serve endpoint (ceiling)"
HEARTBEAT = "PUT /v1/profiles/{id}/progress (heartbeat)"
WRITE_THROUGH = "heartbeat, write-through (no buffer)"
RESTART = "POST /v1/playback/sessions (restart)"
BENCH_BUDGET = {"limit": 1_000_000_000, "window_s": 3600}  # counted in Redis, never refused
PACED_FRACTIONS = (0.2, 0.4, 0.6, 0.7, 0.8, 1.0)
FLUSH_WAIT_S = 4.0  # one PROGRESS_FLUSH_S (3 s) and change: a pass's due writes land in it


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    paths: tuple[str, ...]
    needs_token: bool
    fresh: bool = False  # send Cache-Control: no-cache (bypass the replicas' response cache)
    locustfile: Path = LOCUSTFILE
    mode: str = ""  # playback_locustfile's BENCH_MODE
    write_through: bool = False  # switch the shards' buffer off for this pass

    @property
    def playback(self) -> bool:
        return self.locustfile == PLAYBACK_LOCUSTFILE


@dataclass
class Sample:
    rps: float
    p50: float
    p95: float
    p99: float
    requests: int
    failures: int
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per request, by process kind
    rss_mib: dict[str, float] = field(default_factory=dict)  # at the end, by process kind
    mongo_writes: int | None = None  # documents inserted/updated/deleted during the pass
    redis_commands: int | None = None  # commands Redis processed during the pass
    progress_docs_per_heartbeat: float | None = None  # the shards' own count (playback passes)


@dataclass
class Target:
    base_url: str
    markers: tuple[str, ...] = ()  # picks the stack's processes (procstats); () = all on host
    mongodb_url: str = ""  # for serverStatus write counters
    redis_url: str = ""  # for INFO's command counter
    ray_address: str = ""  # for the write-through switch
    env: dict[str, str] = field(default_factory=dict)  # the stack's settings (provisioning)
    accounts: Path | None = None


def scenarios(base_url: str, token: str) -> list[Scenario]:
    """The routes measured, with search queries drawn from the live catalog."""
    names = [
        str(item["title"])
        for item in _get(base_url, "/v1/content/browse?limit=50", token)["content"]  # type: ignore[attr-defined]
    ]
    queries = []
    for name in names:
        first = name.split()[-1]
        queries += [name, name[:2] + name[3:] if len(name) > 4 else name, first[:4]]
    search = tuple(f"/v1/search?q={urllib.parse.quote(q)}&limit=10" for q in queries)
    browse = tuple(
        f"/v1/content/browse?{q}"
        for q in (
            "limit=20",
            "genre=comedy&limit=20",
            "type=series&page=3&limit=20",
            "rating=PG&limit=50",
        )
    )
    playback = {"method": "PUT", "paths": (), "needs_token": False}
    return [
        Scenario(HELLO, "GET", ("/bench/hello",), False),
        Scenario("GET /v1/users/profiles", "GET", ("/v1/users/profiles",), True),
        Scenario("GET /v1/content/browse", "GET", browse, True),
        Scenario("GET /v1/content/browse, no-cache", "GET", browse, True, fresh=True),
        Scenario("GET /v1/search", "GET", search, True),
        Scenario("GET /v1/search, no-cache", "GET", search, True, fresh=True),
        Scenario(HEARTBEAT, **playback, locustfile=PLAYBACK_LOCUSTFILE, mode="heartbeat"),  # type: ignore[arg-type]
        Scenario(
            WRITE_THROUGH,
            **playback,  # type: ignore[arg-type]
            locustfile=PLAYBACK_LOCUSTFILE,
            mode="heartbeat",
            write_through=True,
        ),
        Scenario(
            RESTART,
            "POST",
            (),
            False,
            locustfile=PLAYBACK_LOCUSTFILE,
            mode="start",
        ),
    ]


def _get(base_url: str, path: str, token: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)  # type: ignore[no-any-return]


def _post(url: str, body: dict[str, str]) -> dict[str, object]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)  # type: ignore[no-any-return]


def provision_token(base_url: str) -> str:
    email = f"bench-{os.getpid()}-{datetime.now(UTC):%H%M%S}@example.com"
    body = _post(f"{base_url}/v1/auth/register", {"email": email, "password": "bench-password"})
    return str(body["access_token"])


def provision_accounts(target: Target, count: int, out: Path) -> Path | None:
    """Premium accounts straight into MongoDB (``loadtest.provision``), or None when the stack's
    stores are out of reach (then every Locust user registers through the API)."""
    if not target.env:
        return None
    return provision_into(target.env, count, out, "premium=1")


def mongo_writes(url: str) -> int | None:
    """Documents inserted, updated and deleted since the server started (its opcounters)."""
    if not url:
        return None
    from pymongo import MongoClient

    with MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        counters = client.admin.command("serverStatus").get("opcounters", {})
    return int(sum(counters.get(kind, 0) for kind in ("insert", "update", "delete")))


def redis_commands(url: str) -> int | None:
    """Commands the Redis server has processed since it started."""
    if not url:
        return None
    import redis

    with redis.Redis.from_url(url, socket_timeout=5) as client:
        return int(client.info("stats")["total_commands_processed"])


def shard_counters(target: Target) -> dict[str, int] | None:
    """The shards' own counters summed (heartbeats applied, progress documents written)."""
    if not target.ray_address:
        return None
    done = subprocess.run(
        [sys.executable, "-m", "actors.drain", "--address", target.ray_address, "--stats"],
        check=True,
        env={**os.environ, **target.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    totals: dict[str, int] = {}
    for shard in json.loads(done.stdout.strip().splitlines()[-1]):
        for key in ("heartbeats", "flushed_docs", "flushed_events"):
            totals[key] = totals.get(key, 0) + int(shard.get(key, 0))
    return totals


def per_heartbeat(
    before: dict[str, int] | None, after: dict[str, int] | None, counter: str
) -> float | None:
    """How much a shard counter (``flushed_docs``, ``flushed_events``) grew per heartbeat."""
    if before is None or after is None:
        return None
    beats = after["heartbeats"] - before["heartbeats"]
    return (after[counter] - before[counter]) / max(1, beats)


def _diff(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


@contextmanager
def write_through(target: Target, enabled: bool) -> Iterator[None]:
    """Switch every shard to the unbuffered baseline for the duration (``actors.drain``)."""
    if not enabled:
        yield
        return
    assert target.ray_address, "the write-through switch goes through Ray (RAY_ADDRESS)"

    def switch(state: str) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "actors.drain",
                "--address",
                target.ray_address,
                "--write-through",
                state,
            ],
            check=True,
            env={**os.environ, **target.env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    switch("on")
    try:
        yield
    finally:
        switch("off")


def _stats_row(prefix: Path, name: str) -> dict[str, str]:
    with open(f"{prefix}_stats.csv") as handle:
        rows = list(csv.DictReader(handle))
    found = next((r for r in rows if r["Name"] == name), None)
    return found or next(r for r in rows if r["Name"] == "Aggregated")


def run_locust(
    target: Target,
    scenario: Scenario,
    token: str,
    users: int,
    seconds: int,
    rate: float = 0.0,
) -> Sample:
    """One headless pass; ``rate`` > 0 paces the users to that many requests/s in all."""
    with tempfile.TemporaryDirectory() as tmp, write_through(target, scenario.write_through):
        prefix = Path(tmp) / "run"
        env = {
            **os.environ,
            "BENCH_METHOD": scenario.method,
            "BENCH_PATHS": "\n".join(scenario.paths),
            "BENCH_NAME": scenario.name,
            "BENCH_TOKEN": token if scenario.needs_token else "",
            "BENCH_NO_CACHE": "1" if scenario.fresh else "0",
            "BENCH_MODE": scenario.mode,
            "BENCH_USERS": str(users),
            "BENCH_RATE": str(rate),
            "BENCH_ACCOUNTS": str(target.accounts or ""),
        }
        counters_before = shard_counters(target) if scenario.playback else None
        writes_before = mongo_writes(target.mongodb_url)
        commands_before = redis_commands(target.redis_url)
        before = procstats.sample(target.markers)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(scenario.locustfile),
                "--headless",
                "--host",
                target.base_url,
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{seconds}s",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--exit-code-on-error",
                "0",
                "--reset-stats",  # count from when every user is spawned (set-up left out)
            ],
            check=True,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        usage = procstats.between(before, procstats.sample(target.markers))
        commands = _diff(commands_before, redis_commands(target.redis_url))
        if scenario.playback:
            time.sleep(FLUSH_WAIT_S)  # what the pass left due reaches MongoDB in the count
        writes_after = mongo_writes(target.mongodb_url)
        counters_after = shard_counters(target) if scenario.playback else None
        # The measured requests only: not a playback user's sign-up and first session.
        row = _stats_row(prefix, scenario.name)
    requests = int(row["Request Count"])
    return Sample(
        rps=float(row["Requests/s"]),
        p50=float(row["50%"]),
        p95=float(row["95%"]),
        p99=float(row["99%"]),
        requests=requests,
        failures=int(row["Failure Count"]),
        cpu_ms={k: v * 1000 / max(1, requests) for k, v in usage.cpu_s.items()},
        rss_mib={k: v / 2**20 for k, v in usage.rss_bytes.items()},
        mongo_writes=_diff(writes_before, writes_after),
        redis_commands=commands,
        progress_docs_per_heartbeat=per_heartbeat(counters_before, counters_after, "flushed_docs"),
    )


@dataclass
class ViewerRun:
    viewers: int
    seconds: int
    heartbeats: int
    heartbeat_p50: float
    heartbeat_p99: float
    heartbeat_rps: float
    requests: int
    failures: int
    ttff_p50: float
    ttff_p95: float
    exit_code: int
    # Over the steady window (every viewer started, first positions written):
    window_s: float
    window_heartbeats: int | None
    progress_docs_per_heartbeat: float | None  # the shards' count of `progress` documents
    event_docs_per_heartbeat: float | None  # the shards' count of QoE/analytics documents
    mongo_writes_per_heartbeat: float | None  # MongoDB's write ops (a bulk write counts once)


def run_viewers(target: Target, viewers: int, seconds: int) -> ViewerRun:
    """The real cadence: the Locust viewer suite, playback only, heartbeats every 10 s. MongoDB
    writes are counted over the steady window only: from a flush after the ramp to the end."""
    ramp_s, settle_s = 20, 15
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "viewers"
        args = [sys.executable, "-m", "locust", "-f", str(VIEWER_LOCUSTFILE), "--headless"]
        args += ["--host", target.base_url, "-u", str(viewers), "-r", str(viewers // ramp_s)]
        args += ["-t", f"{seconds + ramp_s}s", "--csv", str(prefix), "--only-summary"]
        args += ["--loglevel", "WARNING", "--tags", "playback", "--heartbeat-interval", "10"]
        args += ["--max-p95-ms", "100", "--max-failure-ratio", "0"]
        args += ["--reset-stats"]  # latency from when every viewer is in: the steady state
        if target.accounts:
            args += ["--accounts-file", str(target.accounts)]
        locust = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL)
        time.sleep(ramp_s + settle_s)
        counters_before = shard_counters(target)
        writes_before = mongo_writes(target.mongodb_url)
        window_start = time.monotonic()
        exit_code = locust.wait()
        time.sleep(FLUSH_WAIT_S)
        window_s = time.monotonic() - window_start
        counters_after = shard_counters(target)
        writes = _diff(writes_before, mongo_writes(target.mongodb_url))
        beats = _stats_row(prefix, "PUT /v1/profiles/{id}/progress")
        total = _stats_row(prefix, "Aggregated")
        ttff = _stats_row(prefix, "time to first frame")
    window_beats = (
        None
        if counters_before is None or counters_after is None
        else counters_after["heartbeats"] - counters_before["heartbeats"]
    )
    return ViewerRun(
        viewers=viewers,
        seconds=seconds + ramp_s,
        heartbeats=int(beats["Request Count"]),
        heartbeat_p50=float(beats["50%"]),
        heartbeat_p99=float(beats["99%"]),
        heartbeat_rps=float(beats["Requests/s"]),
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        ttff_p50=float(ttff["50%"]),
        ttff_p95=float(ttff["95%"]),
        exit_code=exit_code,
        window_s=window_s,
        window_heartbeats=window_beats,
        progress_docs_per_heartbeat=per_heartbeat(counters_before, counters_after, "flushed_docs"),
        event_docs_per_heartbeat=per_heartbeat(counters_before, counters_after, "flushed_events"),
        mongo_writes_per_heartbeat=None
        if writes is None or not window_beats
        else writes / window_beats,
    )


def _median(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def _median_opt(samples: list[Sample]) -> float | None:
    found = [s.progress_docs_per_heartbeat for s in samples]
    return None if None in found else statistics.median(x for x in found if x is not None)


def _median_of(samples: list[Sample], pick: str, kind: str) -> float:
    return statistics.median(getattr(s, pick).get(kind, 0.0) for s in samples)


def per_request(samples: list[Sample], counter: str) -> float | None:
    """A server counter (``mongo_writes``, ``redis_commands``) per measured request, over all
    passes (set-up included); None when the server could not be read."""
    counts = [getattr(s, counter) for s in samples]
    if None in counts:
        return None
    ok = sum(s.requests - s.failures for s in samples)
    return sum(counts) / max(1, ok)


def main_table(plan: list[Scenario], results: dict[str, list[Sample]]) -> list[str]:
    ceiling = _median(results[HELLO], "rps")
    lines = [
        "| scenario | requests/s | ratio to ceiling | p50 ms | p95 ms | p99 ms | failures "
        "| MongoDB write ops per request | Redis commands per request |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in plan:
        samples = results[scenario.name]
        rps = _median(samples, "rps")
        writes = per_request(samples, "mongo_writes")
        commands = per_request(samples, "redis_commands")
        lines.append(
            f"| {scenario.name} | {rps:,.0f} | {rps / ceiling:.0%} "
            f"| {_median(samples, 'p50'):.0f} | {_median(samples, 'p95'):.0f} "
            f"| {_median(samples, 'p99'):.0f} "
            f"| {sum(s.failures for s in samples)} of {sum(s.requests for s in samples):,} "
            f"| {'n/a' if writes is None else f'{writes:.4f}'} "
            f"| {'n/a' if commands is None else f'{commands:.2f}'} |"
        )
    return lines


def cpu_table(plan: list[Scenario], results: dict[str, list[Sample]]) -> list[str]:
    kinds = [
        k for k, _ in procstats.KINDS if any(k in s.cpu_ms for r in results.values() for s in r)
    ]
    lines = [
        "| scenario | " + " | ".join(kinds) + " | total |",
        "| --- | " + " | ".join("---:" for _ in kinds) + " | ---: |",
    ]
    for scenario in plan:
        samples = results[scenario.name]
        cells = [_median_of(samples, "cpu_ms", kind) for kind in kinds]
        lines.append(
            f"| {scenario.name} | "
            + " | ".join(f"{c:.3f}" for c in cells)
            + f" | {sum(cells):.3f} |"
        )
    rss = {
        kind: max(s.rss_mib.get(kind, 0.0) for r in results.values() for s in r) for kind in kinds
    }
    lines += ["", "Resident memory at the end of the passes (MiB, all processes of the kind):", ""]
    lines.append(", ".join(f"{kind} {mib:,.0f}" for kind, mib in rss.items()))
    return lines


def paced_table(paced: dict[str, list[tuple[float, Sample]]]) -> list[str]:
    lines = [
        "| scenario | offered req/s | achieved req/s | p50 ms | p95 ms | p99 ms | failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, points in paced.items():
        for offered, s in points:
            lines.append(
                f"| {name} | {offered:,.0f} | {s.rps:,.0f} | {s.p50:.0f} | {s.p95:.0f} "
                f"| {s.p99:.0f} | {s.failures} of {s.requests:,} |"
            )
    return lines


def plot(paced: dict[str, list[tuple[float, Sample]]], out: Path) -> None:
    """Latency against offered load (PNG), one line per scenario and percentile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=110)
    for name, points in paced.items():
        offered = [o for o, _ in points]
        for attr, style in (("p50", "--"), ("p99", "-")):
            axes.plot(
                offered,
                [getattr(s, attr) for _, s in points],
                style,
                marker="o",
                label=f"{name}: {attr}",
            )
    axes.set_xlabel("offered load (requests/s)")
    axes.set_ylabel("latency (ms)")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title("Latency against offered load (make bench)")
    figure.tight_layout()
    figure.savefig(out)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def viewers_section(run: ViewerRun | None) -> list[str]:
    if run is None:
        return []
    verdict = "met" if run.heartbeat_p99 < 100 and run.failures == 0 else "MISSED"
    return [
        "## Viewers at the real cadence",
        "",
        f"`loadtest/locustfile.py --tags playback --heartbeat-interval 10`, {run.viewers:,} "
        f"viewers, {run.seconds} s including a 20 s ramp (latencies from the end of the ramp), "
        "one run. Each viewer (a provisioned "
        "account) opens home and a title, starts a session, fetches the manifest from the origin "
        "and a Clear Key license, then heartbeats every 10 s with QoE events.",
        "",
        "| viewers | heartbeats/s | heartbeat p50 ms | heartbeat p99 ms | TTFF p50 ms "
        "| TTFF p95 ms | failures | Locust exit |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {run.viewers:,} | {run.heartbeat_rps:,.0f} | {run.heartbeat_p50:.0f} "
        f"| {run.heartbeat_p99:.0f} | {run.ttff_p50:.0f} | {run.ttff_p95:.0f} "
        f"| {run.failures} of {run.requests:,} | {run.exit_code} |",
        "",
        f"Aim: p99 under 100 ms with zero failures: **{verdict}**.",
        "",
        f"Steady window ({run.window_s:.0f} s from 15 s after the ramp, "
        f"{run.window_heartbeats or 0:,} heartbeats): **{_ratio(run.progress_docs_per_heartbeat)} "
        "progress documents per heartbeat** (the shards' own count of what they wrote to "
        f"`progress`), {_ratio(run.event_docs_per_heartbeat)} QoE event documents per heartbeat "
        f"(written in bulk), {_ratio(run.mongo_writes_per_heartbeat)} MongoDB write operations of any "
        "kind per heartbeat (MongoDB's counters, where one bulk write of many progress documents "
        "or QoE events counts once). "
        "A still-playing stream's position reaches MongoDB at most every `PROGRESS_PERSIST_S` "
        "(120 s; the Redis journal holds it durably meanwhile, and a new session asks the shard "
        "for the freshest position), so over a whole 45-minute play the bound is "
        "(1 first position + 2,700 s / 120 s) / 270 heartbeats ≈ 0.09; finishes add one each.",
    ]


def shard_memory_section() -> list[str]:
    from loadtest.shard_memory import bytes_per_session

    per_session = bytes_per_session(10_000)
    return [
        "## Shard memory",
        "",
        f"Per active session (session, lease, buffered progress): **{per_session:,.0f} bytes**, "
        f"so 10,000 sessions ≈ {per_session * 10_000 / 2**20:.1f} MiB per shard "
        "(`loadtest/shard_memory.py`, tracemalloc, in-process).",
    ]


# Reports of the other `make bench` steps (each runs before this one), folded in as sections.
OTHER_REPORTS = (
    ("shedding.md", "Priority load shedding", "loadtest.shedding_bench"),
    ("openloop.md", "Open loop: latency against achieved throughput", "loadtest.openloop"),
    ("encode-benchmark.md", "Encode throughput (ingest pipeline)", "loadtest.encode_bench"),
)


def included_report(docs: Path, name: str, title: str, module: str) -> list[str]:
    """Another benchmark's report as a section of this one (its own title dropped)."""
    report = docs / name
    if not report.exists():
        return [f"## {title}", "", f"Not measured: run `make bench` (it runs "
                f"`python -m {module}` before this report)."]  # fmt: skip
    # Its own title dropped, its sections one level down.
    body = [
        "#" + line if line.startswith("#") else line for line in report.read_text().splitlines()[1:]
    ]
    return [f"## {title}", *body, f"(From [{report.name}]({report.name}).)"]


def search_section(sizes: str) -> list[str]:
    """In-process search latency (no HTTP), at each catalog size: the index alone."""
    from loadtest.search_bench import measure

    lines = [
        "## Search in-process",
        "",
        "`SearchIndex.search` over the demo catalog, one thread, a mix of exact names, typos,",
        "prefixes, cast, directors and genres (`loadtest/search_bench.py`).",
        "",
        "| titles | build s | p50 ms | p95 ms | p99 ms |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in (int(s) for s in sizes.split(",") if s):
        m = measure(size)
        lines.append(
            f"| {size:,} | {m['build_s']:.1f} | {m['p50_ms']:.2f} | {m['p95_ms']:.2f} "
            f"| {m['p99_ms']:.2f} |"
        )
        print(f"search at {size:,} titles: p99 {m['p99_ms']:.2f} ms", flush=True)
    return lines


def headline(
    results: dict[str, list[Sample]], paced: dict[str, list[tuple[float, Sample]]]
) -> list[str]:
    ceiling = _median(results[HELLO], "rps")
    beat = _median(results[HEARTBEAT], "rps")
    start = _median(results[RESTART], "rps")
    at70 = next((s for f, s in paced.get("heartbeat", []) if abs(f - 0.7 * ceiling) < 1), None)
    lines = [
        "## Headline",
        "",
        f"- Heartbeat path: **{beat / ceiling:.0%}** of the hello-world ceiling (aim ≥ 70 %, issue 12).",
        f"- Session start: **{start / ceiling:.0%}** of the ceiling (aim ≥ 30 %, issue 12).",
    ]
    if WRITE_THROUGH in results:
        through = _median(results[WRITE_THROUGH], "rps")
        lines.insert(
            3,
            f"- Buffering vs write-through: heartbeats run **{beat / max(1.0, through):.1f}x** "
            "the requests/s of the same path writing every heartbeat to MongoDB; progress "
            f"documents per heartbeat {_ratio(_median_opt(results[HEARTBEAT]))} vs "
            f"{_ratio(_median_opt(results[WRITE_THROUGH]))} (the shards' count).",
        )
    else:
        lines.append("- Write-through baseline not measured: set RAY_ADDRESS (the stack's GCS).")
    if at70 is not None:
        lines.append(
            f"- Heartbeats offered at 70 % of the ceiling ({0.7 * ceiling:,.0f} req/s): achieved "
            f"{at70.rps:,.0f} req/s, p99 **{at70.p99:.0f} ms** (aim < 50 ms), "
            f"{at70.failures} failures."
        )
    return lines


def render(
    args: argparse.Namespace,
    plan: list[Scenario],
    results: dict[str, list[Sample]],
    paced: dict[str, list[tuple[float, Sample]]],
    viewers: ViewerRun | None,
    plot_name: str,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}. "
        "Load generator and stack share the machine, as they would on a laptop: compare the "
        "ratio columns, which survive machine noise, rather than absolute requests/s.",
        "",
        *headline(results, paced),
        "",
        "## Closed loop",
        "",
        f"Locust `FastHttpUser`, {args.users} users sending as soon as answered, {args.seconds} s "
        f"per pass, {args.runs} interleaved passes per scenario; medians. Browse and search bodies "
        "are cached per replica for the current catalog snapshot; the `no-cache` rows send "
        "`Cache-Control: no-cache` and do the full work. Heartbeat users each have their own "
        "session and send progress with a moving position and player clock. MongoDB write ops are "
        "the server's insert+update+delete counters over the pass plus one flush interval (a "
        "bulk write counts once: documents per heartbeat are in the headline, from the shards' "
        "own count); Redis commands include the calls our Lua scripts make.",
        "",
        *main_table(plan, results),
        "",
        "### CPU per request, by process kind (ms)",
        "",
        "CPU seconds each kind of process spent during a pass, divided by the requests it "
        "measured (medians over passes). A playback pass includes its users' set-up.",
        "",
        *cpu_table(plan, results),
        "",
        "## Latency against offered load",
        "",
        f"Paced runs: {args.paced_users} users together offering a fixed rate (fractions of the "
        f"closed-loop ceiling), {args.paced_seconds} s each, one pass per point. Few users on "
        "purpose: on this machine the load generator's own overhead grows with open connections "
        "(hello-world at 470 req/s measured p50 41 ms with 200 paced users, 7 ms with 20). A "
        "point above what a path sustains shows its queue, not its service time.",
        "",
        f"![latency against offered load]({plot_name})",
        "",
        *paced_table(paced),
        "",
        *viewers_section(viewers),
        "",
        *shard_memory_section(),
        "",
        *(
            line
            for report in OTHER_REPORTS
            for line in (*included_report(ROOT / "docs", *report), "")
        ),
        *search_section(args.search_sizes),
        "",
        "Every closed-loop pass, requests/s:",
        "",
    ]
    for scenario in plan:
        passes = ", ".join(f"{s.rps:,.0f}" for s in results[scenario.name])
        lines.append(f"- {scenario.name}: {passes}")
    lines += ["", "Reproduce: `make bench` (or `BASE_URL=http://host:8000 make bench`)."]
    return "\n".join(lines) + "\n"


def summary(
    results: dict[str, list[Sample]],
    paced: dict[str, list[tuple[float, Sample]]],
    viewers: ViewerRun | None,
) -> dict[str, object]:
    """The medians, machine-readable: what ``loadtest.capacity`` builds its model from."""
    from loadtest.shard_memory import bytes_per_session

    def scenario(samples: list[Sample]) -> dict[str, object]:
        kinds = {kind for s in samples for kind in s.cpu_ms}
        return {
            "rps": _median(samples, "rps"),
            "p50_ms": _median(samples, "p50"),
            "p99_ms": _median(samples, "p99"),
            "failures": sum(s.failures for s in samples),
            "cpu_ms_per_request": {k: _median_of(samples, "cpu_ms", k) for k in sorted(kinds)},
            "mongo_writes_per_request": per_request(samples, "mongo_writes"),
            "redis_commands_per_request": per_request(samples, "redis_commands"),
            "progress_docs_per_heartbeat": _median_opt(samples),
        }

    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "scenarios": {name: scenario(samples) for name, samples in results.items()},
        "paced": {
            name: [{"offered": o, "rps": s.rps, "p50_ms": s.p50, "p99_ms": s.p99} for o, s in pts]
            for name, pts in paced.items()
        },
        "viewers": None if viewers is None else viewers.__dict__,
        "shard_bytes_per_session": bytes_per_session(10_000),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--paced-users", type=int, default=50)
    parser.add_argument("--paced-seconds", type=int, default=12)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--viewer-seconds", type=int, default=150, help="steady state after ramp")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--search-sizes", default="5000,100000", help="catalog sizes for the in-process search run"
    )
    parser.add_argument(
        "--ratios-only",
        action="store_true",
        help="only the closed-loop passes of hello, heartbeat and restart, their medians and "
        "ratios printed; nothing written (a quick A/B of a hot-path change: `make ratios`)",
    )
    return parser.parse_args()


@contextmanager
def bench_target() -> Iterator[Target]:
    """``BASE_URL`` (with optional ``MONGODB_URL``/``RAY_ADDRESS``), or a private stack."""
    base_url = os.environ.get("BASE_URL", "").rstrip("/")
    if base_url:
        yield Target(
            base_url,
            mongodb_url=os.environ.get("MONGODB_URL", ""),
            redis_url=os.environ.get("REDIS_URL", ""),
            ray_address=os.environ.get("RAY_ADDRESS", ""),
        )
        return
    from stack.local import LocalStack

    budgets = {name: BENCH_BUDGET for name in ("auth", "content", "streaming", "analytics")}
    stack = LocalStack.private(
        Path(tempfile.mkdtemp(prefix="bench-")),
        user_config={"rate_limits": budgets},
        bench_endpoints=True,
    )
    try:
        stack.start()
        env = stack.env()
        yield Target(
            stack.base_url,
            markers=(env["STREAMING_DATA_DIR"], f"127.0.0.1:{stack.redis_port}"),
            mongodb_url=env["MONGODB_URL"],
            redis_url=env["REDIS_URL"],
            ray_address=f"127.0.0.1:{stack.ports.gcs}",
            env=env,
        )
    finally:
        stack.stop()
        stack.remove_scratch()


def main() -> int:
    args = parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with bench_target() as target, tempfile.TemporaryDirectory() as tmp:
        accounts = max(args.users, args.paced_users, args.viewers)
        target.accounts = provision_accounts(target, accounts, Path(tmp) / "accounts.json")
        token = provision_token(target.base_url)
        plan = [
            s
            for s in scenarios(target.base_url, token)
            if target.ray_address or not s.write_through  # the switch goes through Ray
            if not args.ratios_only or s.name in (HELLO, HEARTBEAT, RESTART)
        ]
        results: dict[str, list[Sample]] = {s.name: [] for s in plan}
        for run in range(args.runs):
            for scenario in plan:
                sample = run_locust(target, scenario, token, args.users, args.seconds)
                results[scenario.name].append(sample)
                print(
                    f"pass {run + 1} {scenario.name}: {sample.rps:,.0f} req/s, "
                    f"p50 {sample.p50:.0f} ms, failures {sample.failures}",
                    flush=True,
                )
        ceiling = _median(results[HELLO], "rps")
        if args.ratios_only:
            for name in (HEARTBEAT, RESTART):
                rps = _median(results[name], "rps")
                print(f"median {name}: {rps:,.0f} req/s = {rps / ceiling:.2f} of hello's "
                      f"{ceiling:,.0f}", flush=True)  # fmt: skip
            return 0
        by_name = {s.name: s for s in plan}
        paced: dict[str, list[tuple[float, Sample]]] = {"hello": [], "heartbeat": []}
        for fraction in PACED_FRACTIONS:
            for label, name in (("hello", HELLO), ("heartbeat", HEARTBEAT)):
                rate = round(fraction * ceiling)
                sample = run_locust(
                    target, by_name[name], token, args.paced_users, args.paced_seconds, rate
                )
                paced[label].append((rate, sample))
                print(f"paced {label} at {rate:,} req/s: p99 {sample.p99:.0f} ms", flush=True)
        viewers = run_viewers(target, args.viewers, args.viewer_seconds) if args.viewers else None
        plot_path = args.out.with_name("latency.png")
        plot(paced, plot_path)
        args.out.write_text(render(args, plan, results, paced, viewers, plot_path.name))
        measured = args.out.with_suffix(".json")
        measured.write_text(json.dumps(summary(results, paced, viewers), indent=2) + "\n")
        print(f"wrote {args.out}, {plot_path} and {measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
