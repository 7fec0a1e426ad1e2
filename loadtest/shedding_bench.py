"""``python -m loadtest.shedding_bench`` (part of ``make bench``): playback under a telemetry flood,
with and without priority load shedding (``api/shedding.py``).

A private stack. Playback is offered open-loop, on a fixed schedule whether or not earlier
requests have answered, and each latency is counted from the request's *scheduled* send time
(no coordinated omission): heartbeats (``PUT /v1/profiles/{id}/progress``, priority high) at
``--beats`` per second and same-device session restarts (``POST /v1/playback/sessions``,
critical) at ``--starts`` per second. Meanwhile a separate process floods QoE events
(``POST /v1/playback/events``, low) from ``--flood`` connections, each sending its next event as
soon as the last was answered, which offers several times what the stack can serve. The same
pass runs twice on the same stack, shedding switched on and off live (``user_config``), plus a
first pass without the flood as the baseline.

Per pass and class: requests, share answered 2xx, 503s (with ``Retry-After``), other failures,
p50 and p99. Writes ``docs/shedding.md`` and ``docs/shedding.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from loadtest.viewers import ClassResult, Viewers, prepare
from stack.local import LocalStack, private_stack

ROOT = Path(__file__).resolve().parent.parent
STARTERS = 20  # accounts that restart their session; the others heartbeat and flood events
BUDGETS = {name: {"limit": 10**9, "window_s": 60} for name in ("streaming", "analytics")}


# -- the flood, in its own process (its client CPU must not delay the paced schedule) -------------


async def _flood(base_url: str, viewers: list[dict[str, str]], connections: int, until: float,
                 counts: Any) -> None:  # fmt: skip
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client:

        async def worker(index: int) -> None:
            viewer = viewers[index % len(viewers)]
            auth = {"Authorization": f"Bearer {viewer['token']}"}
            while time.time() < until:
                body = {
                    "session_id": viewer["session_id"],
                    "ts_ms": int(time.time() * 1000),
                    "event": "bitrate_change",
                    "metrics": {"bitrate_kbps": 3000},
                }
                try:
                    async with client.post("/v1/playback/events", headers=auth, json=body) as r:
                        await r.read()
                        status = r.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                key = "ok" if status < 300 and status else "shed" if status == 503 else "failed"
                with counts.get_lock():
                    counts[("ok", "shed", "failed").index(key)] += 1
                if status == 503:  # a real player backs off as told; the flood does not
                    await asyncio.sleep(0)

        await asyncio.gather(*(worker(i) for i in range(connections)))


def flood_main(base_url: str, viewers: list[dict[str, str]], connections: int, until: float,
               counts: Any) -> None:  # fmt: skip
    asyncio.run(_flood(base_url, viewers, connections, until, counts))


# -- the paced playback load -------------------------------------------------------------------


class Bench:
    def __init__(self, stack: LocalStack, viewers: list[dict[str, str]], args: argparse.Namespace):
        self.stack = stack
        self.viewers = viewers
        self.args = args
        self.players = Viewers(viewers, STARTERS)

    async def paced(self, seconds: float, flood: bool, hello: bool = False) -> dict[str, Any]:
        beat_kind = "hello" if hello else "heartbeat"
        results = {beat_kind: ClassResult(), "session start": ClassResult()}
        counts = multiprocessing.Array("l", 3)
        until = time.time() + seconds
        flooder = None
        if flood:
            flooder = multiprocessing.Process(
                target=flood_main,
                args=(
                    self.stack.base_url,
                    self.players.watchers,
                    self.args.flood,
                    until + 1,
                    counts,
                ),
            )
            flooder.start()
            await asyncio.sleep(2)  # the flood is on before the measured schedule starts
        connector = aiohttp.TCPConnector(limit=0)  # open loop: never wait for a connection
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(
            self.stack.base_url, connector=connector, timeout=timeout
        ) as c:
            tasks: list[asyncio.Task[None]] = []
            start = time.monotonic()
            beats = int(seconds * self.args.beats)
            starts = int(seconds * self.args.starts)
            schedule = sorted(
                [(i / self.args.beats, beat_kind, i) for i in range(beats)]
                + [(i / self.args.starts, "session start", i) for i in range(starts)]
            )
            for at, kind, index in schedule:
                delay = start + at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(
                    asyncio.get_running_loop().create_task(
                        self.players.one(c, kind, index, start + at, results[kind])
                    )
                )
            await asyncio.gather(*tasks)
        events = None
        if flooder is not None:
            flooder.join(timeout=30)
            ok, shed, failed = counts[:]
            total = ok + shed + failed
            events = {
                "requests": total,
                "success": round(ok / total, 4) if total else None,
                "shed_503": shed,
                "failed": failed,
                "per_s": round(total / seconds, 1),
            }
        return {
            **{kind: r.summary() for kind, r in results.items()},
            "QoE events (flood)": events,
        }

    def set_shedding(self, enabled: bool) -> None:
        user_config = {**(self.stack.user_config or {}), "shedding": {"enabled": enabled}}
        # A user_config change: the replicas reconfigure, no restart.
        self.stack.deploy(user_config, f"ray_config.shedding-{enabled}.yaml")
        time.sleep(2)


def write_report(out: Path, passes: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.mkdir(parents=True, exist_ok=True)
    body = {"generated": when, "cores": os.cpu_count(), "args": vars(args) | {"out": str(args.out)},
            "passes": passes}  # fmt: skip
    (out / "shedding.json").write_text(json.dumps(body, indent=2) + "\n")
    lines = [
        "# Priority load shedding under a telemetry flood",
        "",
        f"Generated by `python -m loadtest.shedding_bench` (`make bench`) on {when}, "
        f"{os.cpu_count()} cores shared by the load generators and the whole stack. Open-loop "
        f"playback: {args.beats} heartbeats/s (high) and {args.starts} session restarts/s "
        f"(critical), {args.seconds:.0f} s per pass, each latency counted from its scheduled "
        f"send time; the flood: {args.flood} connections sending QoE events (low) back to back "
        "from another process. See `loadtest/shedding_bench.py` and `api/shedding.py`.",
        "",
        "| pass | class | requests | 2xx share | 503 + Retry-After | other failures | p50 ms | "
        "p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in passes.items():
        for kind, row in result.items():
            if row is None:
                continue
            success = "-" if row["success"] is None else f"{row['success']:.2%}"
            lines.append(
                f"| {name} | {kind} | {row['requests']:,} | {success} | {row['shed_503']:,} | "
                f"{row['failed']:,} | {row.get('p50_ms', '-') or '-'} | "
                f"{row.get('p99_ms', '-') or '-'} |"
            )
    lines += [
        "",
        "The flood's requests/s (its `per_s` in the JSON) is what the stack answered, not what "
        "the connections would send: each sends again as soon as it is answered, and a refused "
        "one at once (a real player backs off as `Retry-After` says).",
        "",
        "**Reading it.** The generator's own ceiling (the same schedule against Serve's "
        "do-nothing endpoint) answers far faster than playback does, so the latencies are the stack's. "
        "Playback is never refused in either flood pass: shedding is about its latency. A "
        "refused event still costs what Serve and HAProxy spend on every request (about half "
        "a hello-world request's CPU, `docs/benchmarks.md`) before our pipeline refuses it, so "
        "a flood that resends at once keeps both cores busy; refusing in HAProxy, before a "
        "replica sees the request, is what would bound playback's p99 under such a flood.",
        "",
    ]
    (out / "shedding.md").write_text("\n".join(lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.shedding_bench", description=__doc__)
    parser.add_argument("--beats", type=float, default=250, help="heartbeats/s, open loop")
    parser.add_argument("--starts", type=float, default=10, help="session restarts/s, open loop")
    parser.add_argument("--flood", type=int, default=256, help="connections flooding QoE events")
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    return parser.parse_args(argv)


async def run(stack: LocalStack, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    viewers = await prepare(stack, args.viewers)
    bench = Bench(stack, viewers, args)
    passes: dict[str, dict[str, Any]] = {}
    for name, flood, shedding, hello in (
        ("generator ceiling (hello)", False, True, True),
        ("no flood", False, True, False),
        ("flood, shedding on", True, True, False),
        ("flood, shedding off", True, False, False),
    ):
        await asyncio.to_thread(bench.set_shedding, shedding)
        print(f"[{name}] {args.seconds:.0f}s", flush=True)
        passes[name] = await bench.paced(args.seconds, flood, hello)
        print(f"[{name}] {json.dumps(passes[name])}", flush=True)
    return passes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with private_stack(
        "shedding-", user_config={"rate_limits": BUDGETS}, bench_endpoints=True
    ) as stack:
        passes = asyncio.run(run(stack, args))
    write_report(args.out, passes, args)
    print((args.out / "shedding.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
