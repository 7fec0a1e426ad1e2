"""``make profile`` (``python -m loadtest.profile_hot_path``): where a heartbeat's CPU goes
inside the processes that serve it, sampled with py-spy under load.

``make bench``'s CPU table says *which process* spends a heartbeat's ~1 ms; this says *which
code* inside the Python ones (the ingress replicas and the shard actors). It starts a private
stack, gives ``--viewers`` accounts a live session each, drives ``PUT /v1/profiles/{id}/progress``
closed-loop from ``--connections`` connections for ``--seconds``, and meanwhile runs
``py-spy record --nonblocking`` (samples without stopping the process) on every ingress replica
and shard. Samples are folded two ways and written to ``docs/profile.md`` (+ ``.json``):

- **by layer**: the leaf frame's package (our ``api/``/``core/``/``actors/``, Ray Serve, Ray
  core, Starlette/uvicorn, redis-py, PyJWT, msgspec, asyncio, …): what is framework and what is
  ours;
- **by our function, inclusive**: the share of samples with that function anywhere on the stack,
  so "the rate-limit call" includes the redis-py code it runs.

py-spy sees Python frames only: time in Ray's C++ core worker threads is not in these samples
(``make bench``'s per-process CPU table has it). Shares, not absolute times: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from loadtest import procstats
from loadtest.viewers import ClassResult, Viewers, prepare
from stack.local import private_stack

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = {name: {"limit": 10**9, "window_s": 60} for name in ("streaming", "analytics")}

# Leaf frame's file → layer; first match wins.
LAYERS: tuple[tuple[str, str], ...] = (
    ("/api/", "ours: api/"),
    ("/core/", "ours: core/"),
    ("/actors/", "ours: actors/"),
    ("/deployments/", "ours: deployments/"),
    ("/ray/serve/", "Ray Serve"),
    ("/ray/", "Ray core (Python side)"),
    ("/starlette/", "Starlette"),
    ("/uvicorn/", "uvicorn"),
    ("/h11/", "h11/httptools"),
    ("/httptools/", "h11/httptools"),
    ("/redis/", "redis-py"),
    ("/jwt/", "PyJWT"),
    ("/cryptography/", "PyJWT"),
    ("/msgspec/", "msgspec"),
    ("/pymongo/", "pymongo"),
    ("/asyncio/", "asyncio / uvloop"),
    ("/uvloop/", "asyncio / uvloop"),
    ("/opentelemetry/", "metrics"),
    ("/prometheus_client/", "metrics"),
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):\d+\)$")
_OURS = ("/api/", "/core/", "/actors/", "/deployments/")


def layer_of(file: str) -> str:
    file = "/" + file  # py-spy names files relative to their sys.path entry
    return next((layer for marker, layer in LAYERS if marker in file), "other Python")


def fold(raw: str) -> tuple[int, Counter[str], Counter[str]]:
    """py-spy's raw (collapsed) output → total samples, samples by leaf layer, and samples
    with each of our functions anywhere on the stack (counted once per stack)."""
    total = 0
    layers: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [m for f in stack.split(";") if (m := _FRAME.match(f.strip()))]
        if not frames:
            continue
        total += count
        layers[layer_of(frames[-1]["file"])] += count
        seen = set()
        for frame in frames:
            file = "/" + frame["file"]
            marker = next((m for m in _OURS if m in file), None)
            if marker is None:
                continue
            name = f"{marker.strip('/')}/{file.split(marker, 1)[1]}:{frame['func']}"
            if name not in seen:
                seen.add(name)
                ours[name] += count
    return total, layers, ours


async def drive(base_url: str, players: Viewers, connections: int, seconds: float,
                kind: str) -> dict[str, Any]:  # fmt: skip
    """Closed-loop requests of ``kind``: each connection sends its next one when the last
    answers, always as the same viewer (connection i, viewer i of its group)."""
    result = ClassResult()
    until = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client:

        async def worker(index: int) -> None:
            while time.monotonic() < until:
                await players.one(client, kind, index, time.monotonic(), result)

        await asyncio.gather(*(worker(i) for i in range(connections)))
    return result.summary()


PROFILED = {
    "hello": ("hello replica",),
    "heartbeat": ("ingress replica", "shard actor"),
    "session start": ("ingress replica", "shard actor"),
}


def record(pids: dict[int, str], seconds: float, rate: int, out_dir: Path) -> list[subprocess.Popen[bytes]]:  # fmt: skip
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    procs = []
    for pid, kind in pids.items():
        output = out_dir / f"{kind.replace(' ', '-')}-{pid}.txt"
        command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                   "--rate", str(rate), "--nonblocking", "--format", "raw", "--output", str(output)]  # fmt: skip
        procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    return procs


def profile(stack: Any, players: Viewers, kind: str, args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """One load of ``kind`` with py-spy on the processes that serve it; samples folded."""
    print(f"[{kind}] warming up (5 s)", flush=True)
    asyncio.run(drive(stack.base_url, players, args.connections, 5, kind))
    markers = (str(stack.data_dir), f"127.0.0.1:{stack.redis_port}")
    pids = {p: s.kind for p, s in procstats.sample(markers).items() if s.kind in PROFILED[kind]}
    print(
        f"[{kind}] sampling {len(pids)} processes for {args.seconds:.0f} s under load", flush=True
    )
    raw_dir = args.raw_dir / kind.replace(" ", "-")
    raw_dir.mkdir(parents=True)
    spies = record(pids, args.seconds, args.rate, raw_dir)
    time.sleep(0.5)  # py-spy attaches before the measured load starts
    load = asyncio.run(drive(stack.base_url, players, args.connections, args.seconds, kind))
    for spy in spies:
        _, err = spy.communicate(timeout=60)
        if spy.returncode != 0:
            raise SystemExit(f"py-spy failed ({spy.returncode}): {err.decode()[-500:]}")
    kinds: dict[str, dict[str, Any]] = {}
    for pid, process in pids.items():
        total, layers, ours = fold((raw_dir / f"{process.replace(' ', '-')}-{pid}.txt").read_text())
        data = kinds.setdefault(
            process, {"processes": 0, "samples": 0, "layers": Counter(), "ours": Counter()}
        )
        data["processes"] += 1
        data["samples"] += total
        data["layers"].update(layers)
        data["ours"].update(ours)
    print(f"[{kind}] {load['requests']:,} requests, 2xx share {load['success']}", flush=True)
    return {
        "load": load,
        "processes": {
            k: {**v, "layers": dict(v["layers"]), "ours": dict(v["ours"])} for k, v in kinds.items()
        },
    }


def write_report(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Where a request's Python time goes (py-spy)",
        "",
        f"Run {result['when']} by `make profile` (`python -m loadtest.profile_hot_path`): each "
        f"path driven closed-loop from {result['connections']} connections for "
        f"{result['seconds']:.0f} s while py-spy samples the processes serving it at "
        f"{result['rate']} Hz (`--nonblocking`, active threads only). Shares of each process "
        "kind's samples. Python frames only: time in Ray's C++ core worker and in uvloop's C "
        "shows at the Python frame that called into it (`Thread.run`, `Worker.main_loop`: "
        "\"other Python\"); `make bench`'s CPU table has every process's total. Collapsed "
        "stacks for flame graphs: `--raw-dir` (default /tmp/streaming-profile).",
        "",
    ]
    for path, run in result["paths"].items():
        load = run["load"]
        lines += [
            f"## {path}: {load['requests']:,} requests ({load['requests'] / result['seconds']:,.0f}"
            f"/s), 2xx share {load['success']}, p50 {load['p50_ms']} ms",
            "",
        ]
        for process, data in run["processes"].items():
            total = data["samples"] or 1
            lines += [f"### {process} ({data['processes']} process(es), {total:,} samples)", ""]
            lines += ["| layer (leaf frame) | share |", "| --- | ---: |"]
            for layer, count in sorted(data["layers"].items(), key=lambda kv: -kv[1]):
                lines.append(f"| {layer} | {count / total:.1%} |")
            if data["ours"]:
                lines += ["", "| our function (inclusive) | share |", "| --- | ---: |"]
                for name, count in sorted(data["ours"].items(), key=lambda kv: -kv[1])[:20]:
                    lines.append(f"| `{name}` | {count / total:.1%} |")
            lines.append("")
    (out / "profile.md").write_text("\n".join(lines))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--paths", default="hello,heartbeat,session start")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--raw-dir",
        type=Path,
        default=Path("/tmp/streaming-profile"),
        help="py-spy's collapsed stacks, one file per process (flamegraph.pl, speedscope)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shutil.rmtree(args.raw_dir, ignore_errors=True)
    paths: dict[str, Any] = {}
    with private_stack(
        "profile-", user_config={"rate_limits": BUDGETS}, bench_endpoints=True
    ) as stack:
        print(f"provisioning {args.viewers} viewers with a live session each", flush=True)
        # Half restart, half heartbeat: no two connections share a viewer.
        viewers = asyncio.run(prepare(stack, max(args.viewers, 2 * args.connections)))
        players = Viewers(viewers, starters=len(viewers) // 2)
        for kind in args.paths.split(","):
            paths[kind] = profile(stack, players, kind, args)
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": args.seconds,
        "connections": args.connections,
        "rate": args.rate,
        "paths": paths,
    }
    write_report(args.out, result)
    print((args.out / "profile.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
