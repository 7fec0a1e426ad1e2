"""Soak: the Locust viewer suite for a long while at about half of capacity, memory watched.

    python -m loadtest.soak [--minutes 30] [--viewers N] [--heartbeat-interval 2] [--out docs]

Starts a private stack, provisions one premium account per viewer, and runs
``loadtest/locustfile.py --tags playback`` (sessions, manifests, licenses, heartbeats with QoE
events). Without ``--viewers`` the load is half of the heartbeat ceiling that ``make bench``
measured (``docs/benchmarks.json``): viewers = 0.5 x ceiling x heartbeat interval. Every
``--every`` seconds it samples the RSS of each process kind of the stack (ingress replicas,
shards, ingest coordinator, HAProxy, Ray's own, MongoDB, Redis, origin; see
:mod:`loadtest.procstats`) and the depth of every shard journal in Redis (``HLEN`` of
``journal:{shard-i}:sessions`` / ``:progress``, ``LLEN`` of ``:events``; see
``actors/shard.py``). Writes ``docs/soak.md``, ``docs/soak.json`` and ``docs/soak.png``.

Memory is judged on the steady part (after the ramp and a warm-up): the growth of each kind's
RSS from the first to the last fifth of that part, and a least-squares slope in MiB per hour.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from loadtest.procstats import sample
from stack.local import LocalStack

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
MIB = 1024 * 1024
FLAT_MIB = 20.0  # growth over the steady part below this (per kind) reads as flat
FLAT_SHARE = 0.05  # ... or below this share of the kind's RSS


@dataclass
class Sample:
    t_s: float
    rss_mib: dict[str, float]
    journal: dict[str, int]  # per key kind: sessions, progress, events (summed over shards)


def journal_depths(client: redis.Redis) -> dict[str, int]:
    depths = {"sessions": 0, "progress": 0, "events": 0}
    for key in client.scan_iter(match="journal:*", count=1000):
        name = key.decode()
        kind = name.rsplit(":", 1)[-1]
        kind_type = client.type(key)
        length = client.llen(key) if kind_type == b"list" else client.hlen(key)
        depths[kind] = depths.get(kind, 0) + int(length)
    return depths


def default_viewers(interval_s: float) -> int:
    measured = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
    ceiling = next(
        float(row["rps"])
        for name, row in measured["scenarios"].items()
        if name.startswith("PUT /v1/profiles")
    )
    return max(10, int(0.5 * ceiling * interval_s))


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600


def judge(samples: list[Sample], steady_from_s: float) -> dict[str, dict[str, float | bool]]:
    steady = [s for s in samples if s.t_s >= steady_from_s] or samples
    fifth = max(1, len(steady) // 5)
    verdict: dict[str, dict[str, float | bool]] = {}
    for kind in sorted({k for s in steady for k in s.rss_mib}):
        series = [(s.t_s, s.rss_mib[kind]) for s in steady if kind in s.rss_mib]
        first = sum(v for _, v in series[:fifth]) / len(series[:fifth])
        last = sum(v for _, v in series[-fifth:]) / len(series[-fifth:])
        growth = last - first
        verdict[kind] = {
            "start_mib": round(first, 1),
            "end_mib": round(last, 1),
            "growth_mib": round(growth, 1),
            "slope_mib_per_h": round(slope_per_hour(series), 1),
            "flat": growth < FLAT_MIB or growth < FLAT_SHARE * first,
        }
    return verdict


def locust_totals(prefix: Path) -> dict[str, Any]:
    """The ``Aggregated`` row of Locust's stats CSV, and the failures by name."""
    totals: dict[str, Any] = {}
    with open(f"{prefix}_stats.csv") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                totals = {
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "rps": float(row["Requests/s"]),
                    "p95_ms": row["95%"],
                }
    failures_file = Path(f"{prefix}_failures.csv")
    if failures_file.exists():
        with failures_file.open() as handle:
            totals["failure_rows"] = [
                f"{r['Method']} {r['Name']}: {r['Error']} x{r['Occurrences']}"
                for r in csv.DictReader(handle)
            ][:10]
    return totals


def plot(samples: list[Sample], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (mem, jour) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, height_ratios=(3, 1))
    minutes = [s.t_s / 60 for s in samples]
    for kind in sorted({k for s in samples for k in s.rss_mib}):
        mem.plot(minutes, [s.rss_mib.get(kind, float("nan")) for s in samples], label=kind)
    mem.set_ylabel("RSS, MiB (all processes of the kind)")
    mem.set_title(title)
    mem.legend(fontsize=8, ncol=3)
    mem.grid(alpha=0.3)
    for kind in ("sessions", "progress", "events"):
        jour.plot(minutes, [s.journal.get(kind, 0) for s in samples], label=f"journal {kind}")
    jour.set_ylabel("journal entries")
    jour.set_xlabel("minutes")
    jour.legend(fontsize=8)
    jour.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def soak(stack: LocalStack, args: argparse.Namespace, viewers: int, work: Path) -> dict[str, Any]:
    env = {**os.environ, **stack.env()}
    accounts = work / "accounts.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest.provision",
            "--count",
            str(viewers),
            "--out",
            str(accounts),
            "--plan-mix",
            "premium=1",
        ],
        check=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    prefix = work / "soak"
    ramp_s = min(60, max(10, viewers // 20))
    locust_args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    locust_args += ["--host", stack.base_url, "-u", str(viewers), "-r", str(viewers / ramp_s)]
    locust_args += ["-t", f"{int(args.minutes * 60)}s", "--csv", str(prefix), "--only-summary"]
    locust_args += ["--loglevel", "WARNING", "--tags", "playback"]
    locust_args += ["--heartbeat-interval", str(args.heartbeat_interval)]
    locust_args += ["--accounts-file", str(accounts), "--max-failure-ratio", "0"]
    # Redis rewrites its process title to its address: that is its marker.
    markers = (str(stack.data_dir), str(stack.ray_temp_dir), f"127.0.0.1:{stack.redis_port}")
    store = redis.Redis.from_url(stack.env()["REDIS_URL"])
    samples: list[Sample] = []
    started = time.monotonic()
    locust = subprocess.Popen(locust_args, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        while locust.poll() is None:
            rss: dict[str, float] = {}
            for proc in sample(markers).values():
                if proc.kind != "load generator":
                    rss[proc.kind] = rss.get(proc.kind, 0.0) + proc.rss_bytes / MIB
            depths = journal_depths(store)
            at = time.monotonic() - started
            samples.append(Sample(round(at, 1), {k: round(v, 1) for k, v in rss.items()}, depths))
            ingress = rss.get("ingress replica", 0)
            print(
                f"[soak {at / 60:5.1f} min] RSS ingress {ingress:.0f} MiB, shards "
                f"{rss.get('shard actor', 0):.0f} MiB, mongodb {rss.get('mongodb', 0):.0f} MiB; "
                f"journal {depths}",
                flush=True,
            )
            deadline = time.monotonic() + args.every
            while locust.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
    finally:
        if locust.poll() is None:
            locust.terminate()
        locust.wait()
        store.close()
    totals = locust_totals(prefix)
    totals["locust_exit"] = locust.returncode
    return {
        "samples": samples,
        "totals": totals,
        "ramp_s": ramp_s,
        "verdict": judge(samples, steady_from_s=ramp_s + min(120, args.minutes * 60 / 5)),
    }


def write_report(out: Path, args: argparse.Namespace, viewers: int, run: dict[str, Any]) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    short = args.minutes < 30
    label = f"SHORT RUN ({args.minutes:g} minutes)" if short else f"{args.minutes:g} minutes"
    samples: list[Sample] = run["samples"]
    totals, verdict = run["totals"], run["verdict"]
    out.mkdir(parents=True, exist_ok=True)
    plot(samples, out / "soak.png", f"Soak, {label}: {viewers} viewers, {when}")
    body = {
        "generated": when,
        "minutes": args.minutes,
        "short_run": short,
        "viewers": viewers,
        "heartbeat_interval_s": args.heartbeat_interval,
        "sample_every_s": args.every,
        "locust": totals,
        "memory": verdict,
        "samples": [asdict(s) for s in samples],
    }
    (out / "soak.json").write_text(json.dumps(body, indent=1) + "\n")
    flat = all(bool(v["flat"]) for v in verdict.values())
    max_journal = max((sum(s.journal.values()) for s in samples), default=0)
    rows = [
        f"| {kind} | {v['start_mib']:,} | {v['end_mib']:,} | {v['growth_mib']:+,} | "
        f"{v['slope_mib_per_h']:+,} | {'yes' if v['flat'] else '**no**'} |"
        for kind, v in verdict.items()
    ]
    lines = [
        f"# Soak: {label}",
        "",
        *(
            [
                f"**This is a short validation run of the tooling ({args.minutes:g} minutes), "
                "not the 30-minute soak**; run `make soak` for that.",
                "",
            ]
            if short
            else []
        ),
        f"Generated by `make soak` (`python -m loadtest.soak --minutes {args.minutes:g}`) on "
        f"{when}, {os.cpu_count()} cores: {viewers} Locust viewers (`--tags playback`, a "
        f"heartbeat every {args.heartbeat_interval:g}s plus QoE events) against a private stack, "
        f"RSS and journal depths sampled every {args.every:g}s.",
        "",
        f"- Requests: {totals.get('requests', 0):,} at {totals.get('rps', 0):.0f}/s, "
        f"**{totals.get('failures', 0):,} failures**, p95 {totals.get('p95_ms')} ms, Locust exit "
        f"{totals.get('locust_exit')}.",
        f"- Memory: **{'flat' if flat else 'growing'}** over the steady part (after the "
        f"{run['ramp_s']}s ramp and a warm-up); flat means growth below {FLAT_MIB:g} MiB or "
        f"{FLAT_SHARE:.0%} of the kind's RSS.",
        f"- Shard journals: at most {max_journal:,} entries in all (sessions + unflushed progress "
        "+ unflushed events); they drain every flush.",
        *[f"  - failure: {row}" for row in totals.get("failure_rows", [])],
        "",
        "![RSS per process kind and journal depth over time](soak.png)",
        "",
        "| process kind | RSS at start, MiB | at end, MiB | growth | slope MiB/h | flat |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
    ]
    (out / "soak.md").write_text("\n".join(lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--viewers", type=int, default=0, help="default: half of capacity")
    parser.add_argument("--heartbeat-interval", type=float, default=2.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    viewers = args.viewers or default_viewers(args.heartbeat_interval)
    for name in ("MONGODB_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        # Tokens outlive the run: a soak measures memory, not sign-ins.
        stack = LocalStack.private(work / "stack", extra_env={"ACCESS_TOKEN_TTL_S": "86400"})
        print(f"soak: {viewers} viewers for {args.minutes:g} min; starting a private stack")
        try:
            stack.start(say=lambda line: print(f"[stack] {line}", flush=True))
            run = soak(stack, args, viewers, work)
        finally:
            stack.stop(say=lambda line: None)
            stack.remove_scratch()
    write_report(args.out, args, viewers, run)
    print(f"wrote {args.out / 'soak.md'}, soak.json and soak.png")
    flat = all(bool(v["flat"]) for v in run["verdict"].values())
    return 0 if flat and run["totals"].get("failures", 1) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
