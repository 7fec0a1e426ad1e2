"""``python -m loadtest.openloop`` (part of ``make bench``): latency against achieved throughput,
open loop, for the hello-world ceiling, heartbeats and session starts.

Closed-loop generators (Locust users, wrk connections) wait for an answer before they send
again, so when the service slows down they send less: latency looks flat or even falls as the
offered load rises (our old ``docs/latency.png`` did, for hello-world too). Here requests go out
on a fixed schedule whether or not earlier ones have answered, and each latency is counted from
the request's *scheduled* send time, so queueing shows up as latency (no coordinated omission).

For each path the rate steps up (``--rates``) for ``--seconds`` a step, until the stack stops
keeping up (less than 95 % answered 2xx, answered throughput below 80 % of the offered rate, or
p99 above 2 s): the knee is the last step before that. Each point is plotted at its *achieved*
throughput (2xx answered per second), so a path past its knee bends up and back instead of
pretending to carry the offered rate.

The generator shares the machine's cores with the stack, so its own limit is part of what is
measured: for every step the report gives the **send lag** (how late, at the 99th percentile,
the generator got each request out against its schedule). Where that lag grows, the generator,
not the service, is the bottleneck; the hello-world curve is the ceiling of both together.

Requests are the same as ``loadtest/shedding_bench.py``'s (``loadtest/viewers.py``): heartbeats
``PUT /v1/profiles/{id}/progress`` naming a live session, same-device session restarts
``POST /v1/playback/sessions``, ``GET /bench/hello/``. Writes ``docs/openloop.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from loadtest.viewers import KINDS, ClassResult, Viewers, prepare
from stack.local import private_stack

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = {
    name: {"limit": 10**9, "window_s": 60} for name in ("auth", "content", "streaming", "analytics")
}
STARTERS = 20  # accounts that restart their session (as in shedding_bench)
DEFAULT_RATES = "250,500,750,1000,1250,1500,1750,2000,2500,3000,4000,5000"
# Past the knee: what ends a path's sweep.
MIN_SUCCESS = 0.95
MIN_ACHIEVED_SHARE = 0.80
MAX_P99_MS = 2000.0
LATENCY_AIM_MS = 50.0  # issue 12's heartbeat p99 aim


def _pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None


async def step(
    base_url: str, players: Viewers, kind: str, rate: float, seconds: float
) -> dict[str, Any]:
    """One open-loop step: ``rate`` requests/s of ``kind`` for ``seconds``."""
    result = ClassResult()
    lags_ms: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)  # never wait for a connection: open loop
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        count = int(rate * seconds)
        start = time.monotonic() + 0.2
        for index in range(count):
            scheduled = start + index / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            lags_ms.append(max(0.0, time.monotonic() - scheduled) * 1000)
            tasks.append(loop.create_task(players.one(client, kind, index, scheduled, result)))
        sent_for = time.monotonic() - start
        await asyncio.gather(*tasks)
    summary = result.summary()
    return {
        "kind": kind,
        "offered_per_s": rate,
        "achieved_per_s": round(result.ok / seconds, 1),
        "sent_in_s": round(sent_for, 2),
        **summary,
        "p90_ms": _pct(result.latencies_ms, 0.90),
        "send_lag_p50_ms": _pct(lags_ms, 0.50),
        "send_lag_p99_ms": _pct(lags_ms, 0.99),
    }


def past_the_knee(point: dict[str, Any]) -> bool:
    success = point["success"] or 0.0
    return (
        success < MIN_SUCCESS
        or point["achieved_per_s"] < MIN_ACHIEVED_SHARE * point["offered_per_s"]
        or (point["p99_ms"] or 0.0) > MAX_P99_MS
    )


async def sweep(
    base_url: str, players: Viewers, rates: list[float], seconds: float
) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    for kind in KINDS:
        for rate in rates:
            print(f"[{kind}] {rate:g}/s for {seconds:g} s", flush=True)
            point = await step(base_url, players, kind, rate, seconds)
            points.append(point)
            print(
                f"[{kind}] {rate:g}/s offered: {point['achieved_per_s']:g}/s answered 2xx, "
                f"success {point['success']}, p50 {point['p50_ms']} ms, p99 {point['p99_ms']} ms, "
                f"send lag p99 {point['send_lag_p99_ms']} ms",
                flush=True,
            )
            await asyncio.sleep(2)  # let queues empty before the next step
            if past_the_knee(point):
                break
    return points


def knees(points: list[dict[str, Any]], p99_under_ms: float | None = None) -> dict[str, Any]:
    """Per path: the highest step that still kept up (with p99 under ``p99_under_ms`` when
    given); None when even the first did not."""
    out: dict[str, dict[str, Any] | None] = {}
    for kind in KINDS:
        kept = [
            p
            for p in points
            if p["kind"] == kind
            and not past_the_knee(p)
            and (p99_under_ms is None or (p["p99_ms"] or 0.0) < p99_under_ms)
        ]
        out[kind] = max(kept, key=lambda p: p["achieved_per_s"]) if kept else None
    return out


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"hello": "#7f7f7f", "heartbeat": "#1f77b4", "session start": "#d62728"}
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for kind in KINDS:
        mine = [p for p in points if p["kind"] == kind and p["p99_ms"] is not None]
        if not mine:
            continue
        x = [p["achieved_per_s"] for p in mine]
        ax.plot(x, [p["p99_ms"] for p in mine], "o-", color=colours[kind], label=f"{kind} p99")
        ax.plot(x, [p["p50_ms"] for p in mine], "o--", color=colours[kind], alpha=0.6,
                label=f"{kind} p50")  # fmt: skip
        for p in mine:
            ax.annotate(f"{p['offered_per_s']:g}", (p["achieved_per_s"], p["p99_ms"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color=colours[kind])  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("achieved throughput (2xx answered per second)")
    ax.set_ylabel("latency from the scheduled send time (ms, log)")
    ax.set_title("Open loop: latency against achieved throughput (labels: offered req/s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, points: list[dict[str, Any]], args: argparse.Namespace) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    knee = {
        "sustained": knees(points),
        f"p99_under_{LATENCY_AIM_MS:g}ms": knees(points, LATENCY_AIM_MS),
    }
    settings = {name: str(v) if isinstance(v, Path) else v for name, v in vars(args).items()}
    body = {"generated": when, "cores": os.cpu_count(), "args": settings,
            "points": points, "knees": knee}  # fmt: skip
    (out / "openloop.json").write_text(json.dumps(body, indent=2) + "\n")
    plot(points, out / "openloop.png")
    lines = [
        "# Open loop: latency against achieved throughput",
        "",
        f"Generated by `python -m loadtest.openloop` (`make bench`) on {when}, "
        f"{os.cpu_count()} cores shared by the generator and the whole stack; {args.seconds:g} s "
        "per step, the rate stepped up until the path stopped keeping up (< 95 % 2xx, < 80 % of "
        "the offered rate answered, or p99 > 2 s). Latency is counted from each request's "
        "scheduled send time. See the module docstring of `loadtest/openloop.py`.",
        "",
        "![open loop](openloop.png)",
        "",
        "| path | offered/s | answered 2xx/s | 2xx share | p50 ms | p90 ms | p99 ms | "
        "send lag p99 ms | kept up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for p in points:
        success = "-" if p["success"] is None else f"{p['success']:.1%}"
        lines.append(
            f"| {p['kind']} | {p['offered_per_s']:g} | {p['achieved_per_s']:g} | {success} | "
            f"{p['p50_ms']} | {p['p90_ms']} | {p['p99_ms']} | {p['send_lag_p99_ms']} | "
            f"{'no' if past_the_knee(p) else 'yes'} |"
        )
    lines += [
        "",
        "## Knees",
        "",
        "The highest step each path kept up with (≥ 95 % 2xx, ≥ 80 % of the offered rate "
        f"answered, p99 ≤ 2 s), and the highest with p99 under {LATENCY_AIM_MS:g} ms (the hot "
        "path's latency aim); the ratio is to hello-world's figure of the same kind.",
        "",
        "| path | sustained 2xx/s | its p99 ms | ratio | p99 < "
        f"{LATENCY_AIM_MS:g} ms up to 2xx/s | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    sustained, fast = knee["sustained"], knee[f"p99_under_{LATENCY_AIM_MS:g}ms"]

    def cell(kind: str, table: dict[str, Any]) -> tuple[str, str]:
        k, hello = table[kind], table["hello"]
        if k is None:
            return "none", "-"
        ratio = f"{k['achieved_per_s'] / hello['achieved_per_s']:.2f}" if hello else "-"
        return f"{k['achieved_per_s']:g}", ratio

    for kind in KINDS:
        rate, ratio = cell(kind, sustained)
        p99 = sustained[kind]["p99_ms"] if sustained[kind] else "-"
        fast_rate, fast_ratio = cell(kind, fast)
        lines.append(f"| {kind} | {rate} | {p99} | {ratio} | {fast_rate} | {fast_ratio} |")
    lines += [
        "",
        "Steps are coarse (the rates in the table), so a knee is a lower bound: the path "
        "kept up at that step and not at the next. The hello-world curve is the ceiling of the "
        "generator and Serve together on these cores; a send lag p99 of more than a few ms "
        "means the generator itself fell behind its schedule at that step.",
        "",
    ]
    (out / "openloop.md").write_text("\n".join(lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.openloop", description=__doc__)
    parser.add_argument("--rates", default=DEFAULT_RATES, help="requests/s per step, ascending")
    parser.add_argument("--seconds", type=float, default=8, help="seconds per step")
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="only redo the report and plot from an earlier run's JSON")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        earlier = json.loads(args.render.read_text())
        settings = argparse.Namespace(**{**earlier["args"], "out": args.out, "render": None})
        write_report(args.out, earlier["points"], settings)
        return 0
    rates = [float(r) for r in args.rates.split(",")]
    with private_stack(
        "openloop-", user_config={"rate_limits": BUDGETS}, bench_endpoints=True
    ) as stack:  # started outside the event loop: its start-up runs one of its own

        async def measure() -> list[dict[str, Any]]:
            viewers = await prepare(stack, args.viewers)
            return await sweep(stack.base_url, Viewers(viewers, STARTERS), rates, args.seconds)

        # The generator shares two cores with the stack: uvloop and no garbage collection
        # pauses mid-step keep its own share small and its schedule on time (see send lag).
        gc.disable()
        try:
            points = uvloop.run(measure())
        finally:
            gc.enable()
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(args.out, points, args)
    print((args.out / "openloop.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
