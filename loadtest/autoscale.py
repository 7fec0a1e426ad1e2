"""Autoscaling shown: the Ingress under ``autoscaling_config`` and a Locust ramp low → high → low.

    python -m loadtest.autoscale [--min-replicas 2] [--max-replicas 4] [--target 4]
        [--upscale-delay 5] [--downscale-delay 60] [--look-back 15]
        [--stages 0:2,40:12,90:40,150:2] [--end 285] [--every 2] [--out docs]

Starts a private stack whose ``api`` application's ``Ingress`` deployment has an
``autoscaling_config`` in place of ``num_replicas`` (Serve refuses both at once), with rate
budgets raised as ``make bench`` raises them, and enough Ray CPUs for ``--max-replicas``
replicas. Provisions one premium account per user and runs the bench's heartbeat users
(``loadtest/playback_locustfile.py``: each user has its own session and sends progress updates
as soon as the last one was answered, a closed loop) through ``--stages``: ``AT:USERS`` pairs,
seconds from the start. Each user keeps one request in flight, so the users are the load the
autoscaler sees: about ``users / replicas`` ongoing requests per replica, compared with
``target_ongoing_requests``.

Locust runs unattended (``--autostart``) with its web API on a private 127.0.0.1 port: each
stage is a ``POST /swarm``, and ``GET /stats/requests`` gives the current users, requests/s and
p95. Every ``--every`` seconds a background thread samples those and, from the Ray dashboard's
Serve API, the Ingress replicas by state and Serve's target. Writes ``docs/autoscaling.md``,
``docs/autoscaling.png`` and ``docs/autoscaling.json`` (every sample).

Exit code 0 only if the RUNNING replicas went above ``--min-replicas`` and came back to it
before the end of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from loadtest.bench import BENCH_BUDGET
from loadtest.provision import provision_into
from stack.local import PROJECT_ROOT, LocalStack
from stack.processes import free_port

ROOT = PROJECT_ROOT
LOCUSTFILE = ROOT / "loadtest" / "playback_locustfile.py"
APP, DEPLOYMENT = "api", "Ingress"
HEARTBEAT = "heartbeat"  # the name playback_locustfile gives the measured requests
AUTH_TOKEN = Path.home() / ".ray" / "auth_token"


@dataclass(frozen=True)
class Stage:
    at_s: float
    users: int


@dataclass
class Sample:
    t_s: float
    running: int | None  # Ingress replicas in state RUNNING (None: the dashboard did not answer)
    other: dict[str, int]  # replicas in any other state (STARTING, STOPPING, ...), by state
    target: int | None  # Serve's target_num_replicas
    users: int | None
    rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    fail_ratio: float | None


@dataclass
class Run:
    settings: dict[str, Any]
    stages: list[Stage]
    end_s: float
    samples: list[Sample] = field(default_factory=list)
    started_wall: float = 0.0
    totals: dict[str, Any] = field(default_factory=dict)


# -- options ------------------------------------------------------------------------------------


def parse_stages(raw: str) -> list[Stage]:
    """``0:2,40:12,90:40,150:2`` → stages; the first starts at 0, times increase."""
    stages = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        at, _, users = item.partition(":")
        stages.append(Stage(float(at), int(users)))
    if not stages or stages[0].at_s != 0:
        raise argparse.ArgumentTypeError(f"--stages {raw!r}: the first stage must start at 0")
    if any(b.at_s <= a.at_s for a, b in itertools.pairwise(stages)):
        raise argparse.ArgumentTypeError(f"--stages {raw!r}: times must increase")
    if any(s.users < 0 for s in stages):
        raise argparse.ArgumentTypeError(f"--stages {raw!r}: users must be >= 0")
    return stages


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.autoscale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--min-replicas", type=int, default=2)
    parser.add_argument("--max-replicas", type=int, default=4)
    parser.add_argument("--target", type=float, default=4.0, help="target_ongoing_requests")
    parser.add_argument("--upscale-delay", type=float, default=5.0, help="upscale_delay_s")
    parser.add_argument("--downscale-delay", type=float, default=60.0, help="downscale_delay_s")
    parser.add_argument(
        "--look-back", type=float, default=15.0, help="look_back_period_s (Serve's default: 30)"
    )
    parser.add_argument(
        "--stages",
        type=parse_stages,
        default=parse_stages("0:2,40:12,90:40,150:2"),
        help="AT:USERS,... seconds from the start (default: %(default)s)",
    )
    parser.add_argument("--end", type=float, default=285.0, help="seconds the load runs in all")
    parser.add_argument("--spawn-rate", type=float, default=4.0, help="users/s while ramping up")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    if args.end <= args.stages[-1].at_s:
        parser.error("--end must come after the last stage starts")
    if not 0 < args.min_replicas < args.max_replicas:
        parser.error("need 0 < --min-replicas < --max-replicas to see any scaling")
    return args


def autoscaling_config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "min_replicas": args.min_replicas,
        "max_replicas": args.max_replicas,
        "target_ongoing_requests": args.target,
        "upscale_delay_s": args.upscale_delay,
        "downscale_delay_s": args.downscale_delay,
        "look_back_period_s": args.look_back,
    }


def cpus_needed(max_replicas: int) -> int:
    """Ray CPUs for every Serve replica of ray_config.yaml with the Ingress at ``max_replicas``
    (the shards and the ingest coordinator ask for none)."""
    config = yaml.safe_load((ROOT / "ray_config.yaml").read_text())
    total = 0.0
    for app in config["applications"]:
        for deployment in app.get("deployments", []):
            cpus = float(deployment.get("ray_actor_options", {}).get("num_cpus", 1))
            ingress = app["name"] == APP and deployment["name"] == DEPLOYMENT
            total += cpus * (max_replicas if ingress else int(deployment.get("num_replicas", 1)))
    return math.ceil(total)


# -- sampling -----------------------------------------------------------------------------------


def _get_json(url: str, timeout: float = 5) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: dict[str, Any] = json.load(resp)
        return body


def ingress_detail(stack: LocalStack) -> dict[str, Any]:
    """The dashboard's view of ``api``'s ``Ingress`` deployment (``{}`` if not there yet)."""
    assert stack.head is not None
    apps = stack.head.applications()
    detail: dict[str, Any] = apps.get(APP, {}).get("deployments", {}).get(DEPLOYMENT, {})
    return detail


def replica_counts(detail: dict[str, Any]) -> tuple[int, dict[str, int], int | None]:
    """``(running, other states, target)`` from :func:`ingress_detail`."""
    running, other = 0, dict[str, int]()
    for replica in detail.get("replicas", []):
        state = str(replica.get("state", "?"))
        if state == "RUNNING":
            running += 1
        else:
            other[state] = other.get(state, 0) + 1
    target = detail.get("target_num_replicas")
    return running, other, None if target is None else int(target)


class Locust:
    """Locust with its web API on a private port, started at once (``--autostart``) with the
    first stage; later stages are ``POST /swarm``."""

    def __init__(self, stack: LocalStack, accounts: Path, work: Path, first: Stage) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = work / "locust"
        self.log = work / "locust.log"
        env = {
            **os.environ,
            "BENCH_ACCOUNTS": str(accounts),
            "BENCH_MODE": "heartbeat",
            "BENCH_NAME": HEARTBEAT,
            "BENCH_RATE": "0",  # closed loop: one request in flight per user
        }
        argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--autostart"]
        argv += ["--host", stack.base_url, "-u", str(first.users), "-r", str(max(1, first.users))]
        argv += ["--web-host", "127.0.0.1", "--web-port", str(self.port)]
        argv += ["--csv", str(self.prefix), "--only-summary", "--loglevel", "WARNING"]
        argv += ["--exit-code-on-error", "0"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_up(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"Locust exited ({self.proc.returncode}): {self.tail()}")
            try:
                _get_json(f"{self.url}/stats/requests")
                return
            except (OSError, ValueError):
                time.sleep(0.5)
        raise TimeoutError(f"Locust's web API did not answer within {timeout_s:.0f}s")

    def swarm(self, users: int, spawn_rate: float) -> None:
        form = urllib.parse.urlencode({"user_count": users, "spawn_rate": spawn_rate}).encode()
        with urllib.request.urlopen(f"{self.url}/swarm", data=form, timeout=10) as resp:
            answer = json.load(resp)
        if not answer.get("success"):
            raise RuntimeError(f"Locust refused /swarm {users} users: {answer}")

    def stats(self) -> dict[str, Any]:
        return _get_json(f"{self.url}/stats/requests")

    def stop(self) -> None:
        """SIGTERM: Locust stops its users and writes its CSV files, then exits."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def totals(self) -> dict[str, Any]:
        """The heartbeat row of Locust's final stats CSV (``{}`` if it wrote none)."""
        try:
            with open(f"{self.prefix}_stats.csv") as handle:
                rows = {row["Name"]: row for row in csv.DictReader(handle)}
        except OSError:
            return {}
        row = rows.get(HEARTBEAT) or rows.get("Aggregated")
        if row is None:
            return {}
        return {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1),
            "p50_ms": row["50%"],
            "p95_ms": row["95%"],
            "p99_ms": row["99%"],
        }


def take_sample(stack: LocalStack, locust: Locust, at: float) -> Sample:
    running: int | None = None
    other: dict[str, int] = {}
    target: int | None = None
    with contextlib.suppress(OSError, ValueError):
        running, other, target = replica_counts(ingress_detail(stack))
    users = rps = p50 = p95 = fail = None
    try:
        stats = locust.stats()
        users = int(stats.get("user_count", 0))
        rps = round(float(stats.get("current_rps") or 0.0), 1)
        current = stats.get("current_response_time_percentiles") or {}
        p50 = current.get("response_time_percentile_0.5")
        p95 = current.get("response_time_percentile_0.95")
        fail = round(float(stats.get("fail_ratio") or 0.0), 4)
    except (OSError, ValueError):
        pass
    return Sample(round(at, 1), running, other, target, users, rps, p50, p95, fail)


def sampler(
    stack: LocalStack, locust: Locust, run: Run, started: float, every: float, done: threading.Event
) -> None:
    while True:
        sample = take_sample(stack, locust, time.monotonic() - started)
        run.samples.append(sample)
        others = ", ".join(f"{n} {s.lower()}" for s, n in sorted(sample.other.items()))
        print(
            f"[autoscale {sample.t_s:6.1f}s] replicas running {sample.running} "
            f"(target {sample.target}{'; ' + others if others else ''}) | users {sample.users}, "
            f"{sample.rps} req/s, p95 {sample.p95_ms} ms",
            flush=True,
        )
        if done.wait(every):
            return


def drive(stack: LocalStack, args: argparse.Namespace, work: Path) -> Run:
    run = Run(
        settings=autoscaling_config(args),
        stages=args.stages,
        end_s=args.end,
        started_wall=time.time(),
    )
    peak_users = max(s.users for s in args.stages)
    accounts = provision_into(stack.env(), peak_users + 10, work / "accounts.json", "premium=1")
    locust = Locust(stack, accounts, work, args.stages[0])
    done = threading.Event()
    thread: threading.Thread | None = None
    try:
        locust.wait_up()
        started = time.monotonic()
        run.started_wall = time.time()
        thread = threading.Thread(
            target=sampler,
            args=(stack, locust, run, started, args.every, done),
            name="autoscale-sampler",
            daemon=True,
        )
        thread.start()
        current = args.stages[0].users
        for stage in args.stages[1:]:
            _sleep_until(started + stage.at_s, locust)
            # Up at --spawn-rate (a ramp the autoscaler can follow), down at once.
            rate = args.spawn_rate if stage.users > current else max(1, current)
            print(f"[autoscale] stage at {stage.at_s:g}s: {stage.users} users", flush=True)
            locust.swarm(stage.users, rate)
            current = stage.users
        _sleep_until(started + args.end, locust)
    finally:
        done.set()
        if thread is not None:
            thread.join(timeout=30)
        locust.stop()
    if locust.proc.returncode not in (0, None) and not run.samples:
        raise RuntimeError(f"Locust failed: {locust.tail()}")
    run.totals = {**locust.totals(), "locust_exit": locust.proc.returncode}
    return run


def _sleep_until(deadline: float, locust: Locust) -> None:
    while (left := deadline - time.monotonic()) > 0:
        if not locust.alive():
            raise RuntimeError(f"Locust exited early ({locust.proc.returncode}): {locust.tail()}")
        time.sleep(min(0.5, left))


# -- analysis -----------------------------------------------------------------------------------


def analyse(run: Run) -> dict[str, Any]:
    """Peak replicas, and how long after the load rose / fell the RUNNING replicas followed."""
    low = run.settings["min_replicas"]
    samples = [s for s in run.samples if s.running is not None]
    first_users = run.stages[0].users
    rise = next((s for s in run.stages if s.users > first_users), None)
    peak_users = max(s.users for s in run.stages)
    peak_stage = next(s for s in run.stages if s.users == peak_users)
    fall = next((s for s in run.stages if s.at_s > peak_stage.at_s and s.users < peak_users), None)
    peak = max((s.running or 0 for s in samples), default=0)
    above = next((s for s in samples if (s.running or 0) > low), None)
    peak_at = next((s for s in samples if s.running == peak), None)
    target_up = next((s for s in samples if (s.target or 0) > low), None)
    back = None
    target_back = None
    if fall is not None:
        after = [s for s in samples if s.t_s >= fall.at_s]
        back = next((s for s in after if s.running is not None and s.running <= low), None)
        target_back = next((s for s in after if s.target is not None and s.target <= low), None)
    went_up = peak > low
    came_back = went_up and back is not None and (peak_at is None or back.t_s > peak_at.t_s)
    return {
        "min_replicas": low,
        "peak_replicas": peak,
        "peak_at_s": peak_at.t_s if peak_at else None,
        "load_rose_at_s": rise.at_s if rise else None,
        "load_fell_at_s": fall.at_s if fall else None,
        "first_above_min_at_s": above.t_s if above else None,
        "scale_up_s": round(above.t_s - rise.at_s, 1) if above and rise else None,
        "target_up_s": round(target_up.t_s - rise.at_s, 1) if target_up and rise else None,
        "to_peak_s": round(peak_at.t_s - peak_stage.at_s, 1) if peak_at and went_up else None,
        "back_to_min_at_s": back.t_s if back else None,
        "scale_down_s": round(back.t_s - fall.at_s, 1) if back and fall else None,
        "target_down_s": round(target_back.t_s - fall.at_s, 1) if target_back and fall else None,
        "went_up": went_up,
        "came_back": came_back,
        "ok": went_up and came_back,
    }


def per_stage(run: Run) -> list[dict[str, Any]]:
    """Each stage's steady part (its second half): users, replicas, requests/s, p95."""
    rows = []
    bounds = [s.at_s for s in run.stages[1:]] + [run.end_s]
    for stage, end in zip(run.stages, bounds, strict=True):
        mid = stage.at_s + (end - stage.at_s) / 2
        part = [s for s in run.samples if mid <= s.t_s < end]

        def mean(values: list[float]) -> float | None:
            return round(sum(values) / len(values), 1) if values else None

        rows.append(
            {
                "from_s": stage.at_s,
                "to_s": end,
                "users": stage.users,
                "replicas": mean([float(s.running) for s in part if s.running is not None]),
                "rps": mean([s.rps for s in part if s.rps is not None]),
                "p95_ms": mean([float(s.p95_ms) for s in part if s.p95_ms is not None]),
            }
        )
    return rows


def condensed(samples: list[Sample], step_s: float = 10.0) -> list[Sample]:
    """The first sample at or after every ``step_s`` mark."""
    picked: list[Sample] = []
    mark = 0.0
    for sample in samples:
        if sample.t_s >= mark:
            picked.append(sample)
            mark = (sample.t_s // step_s + 1) * step_s
    return picked


# -- report -------------------------------------------------------------------------------------


def plot(run: Run, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (reps, load) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, height_ratios=(1, 1))
    ok = [s for s in run.samples if s.running is not None]
    t = [s.t_s for s in ok]
    reps.step(t, [s.running for s in ok], where="post", lw=2.2, label="RUNNING replicas")
    reps.step(
        t,
        [s.target if s.target is not None else float("nan") for s in ok],
        where="post",
        ls="--",
        lw=1.4,
        label="Serve's target replicas",
    )
    top = run.settings["max_replicas"]
    reps.axhline(top, color="grey", lw=0.8, ls=":")
    reps.axhline(run.settings["min_replicas"], color="grey", lw=0.8, ls=":")
    reps.set_ylim(0, top + 0.8)
    reps.set_yticks(range(0, top + 1))
    reps.set_ylabel("Ingress replicas")
    reps.set_title(title)
    reps.legend(loc="upper right", fontsize=8)
    reps.grid(alpha=0.3)

    stats = [s for s in run.samples if s.users is not None]
    ts = [s.t_s for s in stats]
    load.step(ts, [s.users for s in stats], where="post", color="tab:green", lw=2, label="users")
    load.set_ylabel("Locust users (one request in flight each)", color="tab:green")
    load.set_xlabel("seconds")
    load.grid(alpha=0.3)
    rps_axis = load.twinx()
    rps_axis.plot(ts, [s.rps for s in stats], color="tab:purple", lw=1.2, label="requests/s")
    rps_axis.set_ylabel("heartbeats/s", color="tab:purple")
    rps_axis.set_ylim(bottom=0)
    lines = load.get_legend_handles_labels()
    more = rps_axis.get_legend_handles_labels()
    load.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=8)
    for axis in (reps, load):
        for stage in run.stages[1:]:
            axis.axvline(stage.at_s, color="black", lw=0.6, alpha=0.4)
    load.set_xlim(0, max([run.end_s, *t, *ts]))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"
    return f"{value}{unit}"


def write_report(out: Path, args: argparse.Namespace, run: Run, verdict: dict[str, Any]) -> None:
    when = datetime.fromtimestamp(run.started_wall, UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.mkdir(parents=True, exist_ok=True)
    settings = run.settings
    stages_text = ", ".join(f"{s.users} users from {s.at_s:g}s" for s in run.stages)
    plot(
        run,
        out / "autoscaling.png",
        f"Ingress autoscaling, target {settings['target_ongoing_requests']:g} ongoing/replica, "
        f"up {settings['upscale_delay_s']:g}s / down {settings['downscale_delay_s']:g}s ({when})",
    )
    stages = per_stage(run)
    body = {
        "generated": when,
        "cores": os.cpu_count(),
        "autoscaling_config": settings,
        "stages": [asdict(s) for s in run.stages],
        "end_s": run.end_s,
        "sample_every_s": args.every,
        "verdict": verdict,
        "per_stage": stages,
        "locust": run.totals,
        "samples": [asdict(s) for s in run.samples],
    }
    (out / "autoscaling.json").write_text(json.dumps(body, indent=1) + "\n")

    command = (
        f"python -m loadtest.autoscale --min-replicas {settings['min_replicas']} "
        f"--max-replicas {settings['max_replicas']} --target {settings['target_ongoing_requests']:g} "
        f"--upscale-delay {settings['upscale_delay_s']:g} "
        f"--downscale-delay {settings['downscale_delay_s']:g} "
        f"--look-back {settings['look_back_period_s']:g} "
        f"--stages {','.join(f'{s.at_s:g}:{s.users}' for s in run.stages)} --end {run.end_s:g}"
    )
    outcome = (
        "**scaled up and back down**"
        if verdict["ok"]
        else "**did NOT scale up and back down within the run**"
        + (" (never above min_replicas)" if not verdict["went_up"] else " (never back to min)")
    )
    yaml_block = yaml.safe_dump({"autoscaling_config": settings}, sort_keys=False).rstrip()
    table = [
        "| t (s) | users | heartbeats/s | p95 ms | RUNNING replicas | target | other replicas |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in condensed(run.samples):
        others = ", ".join(f"{n} {state}" for state, n in sorted(s.other.items())) or ""
        table.append(
            f"| {s.t_s:.0f} | {_fmt(s.users)} | {_fmt(s.rps)} | {_fmt(s.p95_ms)} | "
            f"{_fmt(s.running)} | {_fmt(s.target)} | {others} |"
        )
    stage_rows = [
        "| stage | users | mean RUNNING replicas | heartbeats/s | p95 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['from_s']:g}-{r['to_s']:g} s | {r['users']} | {_fmt(r['replicas'])} | "
            f"{_fmt(r['rps'])} | {_fmt(r['p95_ms'])} |"
            for r in stages
        ),
    ]
    totals = run.totals
    lines = [
        "# Ingress autoscaling under a Locust ramp",
        "",
        f"Generated by `python -m loadtest.autoscale` on {when}, {os.cpu_count()} cores shared "
        "by the load generator, the whole stack and other jobs. Outcome: " + outcome + ".",
        "",
        "## Settings used",
        "",
        f"The `{APP}` application's `{DEPLOYMENT}` deployment of `ray_config.yaml`, with "
        "`num_replicas` removed (Serve refuses it next to `autoscaling_config`) and:",
        "",
        "```yaml",
        yaml_block,
        "```",
        "",
        "Everything else is as in `ray_config.yaml` (`max_ongoing_requests: 256`, "
        "`num_cpus: 0.5` per replica); rate budgets raised as `make bench` raises them. "
        f"Load: `loadtest/playback_locustfile.py` heartbeat users, closed loop (each user sends "
        f"its next progress update as soon as the last was answered, so each keeps one request "
        f"in flight): {stages_text}, stop at {run.end_s:g}s. Samples every {args.every:g}s: "
        "Ingress replicas by state and `target_num_replicas` from the Ray dashboard "
        "(`/api/serve/applications/`), users, requests/s and p95 (last ~10 s) from Locust's "
        "web API.",
        "",
        "## Result",
        "",
        f"- Peak: **{verdict['peak_replicas']} RUNNING replicas** (min {verdict['min_replicas']}, "
        f"max {settings['max_replicas']}), first reached at {_fmt(verdict['peak_at_s'], 's')}.",
        f"- Scale-up: load rose at {_fmt(verdict['load_rose_at_s'], 's')}; Serve's target went "
        f"above min after **{_fmt(verdict['target_up_s'], ' s')}**, a new replica was RUNNING "
        f"after **{_fmt(verdict['scale_up_s'], ' s')}**; the peak "
        f"{_fmt(verdict['to_peak_s'], ' s')} after the peak load started.",
        f"- Scale-down: load fell at {_fmt(verdict['load_fell_at_s'], 's')}; the target was back "
        f"at min after **{_fmt(verdict['target_down_s'], ' s')}**, the RUNNING replicas after "
        f"**{_fmt(verdict['scale_down_s'], ' s')}**.",
        f"- Locust (heartbeats, whole run): {_fmt(totals.get('requests'))} requests, "
        f"{_fmt(totals.get('failures'))} failures, {_fmt(totals.get('rps'))}/s on average, "
        f"p50 {totals.get('p50_ms')} ms, p95 {totals.get('p95_ms')} ms.",
        "",
        "![replicas, users and requests/s over time](autoscaling.png)",
        "",
        "Per stage (second half of each, after the replicas had time to follow):",
        "",
        *stage_rows,
        "",
        "Reading it: Serve decides from the ongoing requests each replica reports (with "
        "HAProxy's direct ingress the replicas push them, every 10 s by default: "
        "`RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S`), averaged over "
        "`look_back_period_s`, so its target moves up to a push interval plus "
        "`upscale_delay_s` after the load does, and a new replica is RUNNING a few seconds "
        "after the target (it loads the catalog first). Down, the target waits "
        "`downscale_delay_s` once the average is below target. The machine's 2 cores are "
        "shared by Locust, HAProxy, every replica, the shards and the stores, so requests/s "
        "here is bounded by the CPU, not by the replicas: this run shows the control loop, "
        "not capacity (see `docs/capacity.md` for that).",
        "",
        "## Timeline (every 10 s; all samples in `autoscaling.json`)",
        "",
        *table,
        "",
        "## Reproduce",
        "",
        "```bash",
        f".venv/bin/{command}",
        "```",
        "",
        "About 5 minutes of load plus 1-2 minutes to start and stop the private stack. Exit "
        "code 0 only if the RUNNING replicas went above `min_replicas` and came back to it.",
        "",
    ]
    (out / "autoscaling.md").write_text("\n".join(lines))


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("MONGODB_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    budgets = {name: BENCH_BUDGET for name in ("auth", "content", "streaming", "analytics")}
    with tempfile.TemporaryDirectory(prefix="autoscale-") as tmp:
        work = Path(tmp)
        stack = LocalStack.private(
            work / "stack",
            user_config={"rate_limits": budgets},
            extra_env={"ACCESS_TOKEN_TTL_S": "86400"},
        )
        stack.deployment_overrides = {
            f"{APP}/{DEPLOYMENT}": {
                "num_replicas": None,
                "autoscaling_config": autoscaling_config(args),
            }
        }
        stack.num_cpus = max(stack.num_cpus, cpus_needed(args.max_replicas))
        print(
            f"autoscale: {autoscaling_config(args)}; Ray CPUs {stack.num_cpus}; "
            "starting a private stack",
            flush=True,
        )
        try:
            stack.start(say=lambda line: print(f"[stack] {line}", flush=True))
            run = drive(stack, args, work)
        finally:
            stack.stop(say=lambda line: None)
            stack.remove_scratch()
    verdict = analyse(run)
    write_report(args.out, args, run, verdict)
    print(
        f"wrote {args.out / 'autoscaling.md'}, autoscaling.png and autoscaling.json: peak "
        f"{verdict['peak_replicas']} replicas, scale-up {verdict['scale_up_s']} s, scale-down "
        f"{verdict['scale_down_s']} s; {'OK' if verdict['ok'] else 'NOT scaled up and back down'}"
    )
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
