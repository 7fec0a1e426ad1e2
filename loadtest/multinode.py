"""More than one node: placement on both, shard sockets across, then the second node dies.

    python -m loadtest.multinode [--viewers 24] [--out docs]

Starts a private stack whose Ray cluster has a second node in its own network namespace
(``stack.multinode``: its own address 10.200.<n>.2, the head at 10.200.<n>.1), then shows:

1. **placement**: Ingress replicas, shard actors (and the Serve proxies) on both nodes, from
   the dashboard's state API;
2. **encode tasks on both**: one generated 10 s clip uploaded through the API; the node of
   every ``encode_chunk`` task, from the state API;
3. **shard sockets crossing**: with viewers' heartbeats flowing, the established TCP
   connections from a replica on one node to a shard's socket (``ShardActor.endpoint``) on the
   other, seen with ``ss`` from each namespace;
4. **the second node killed** (every process of its namespace SIGKILLed at once, under the
   viewers' heartbeats, with a racing-starts probe): the same judgement as
   ``loadtest.chaos`` (acknowledged positions against MongoDB, stream limit, 503s with
   Retry-After, hangs, recovery time), and where everything runs afterwards.

Writes ``docs/multinode.md`` and ``docs/multinode.json``. ``tests/e2e/test_multinode.py`` runs
the same :class:`MultiNode` with fewer viewers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from ray.util.state import list_actors, list_tasks

from core.config import Settings
from loadtest.chaos import STACK_ENV, Chaos, FaultResult, Say
from media.ingest.tools import binary
from stack.local import LocalStack
from stack.multinode import SecondNode, crossing

ROOT = Path(__file__).resolve().parent.parent
# Requests sent this soon after the kill may already be on the dead node's replica: HAProxy
# checks its servers every second (RAY_SERVE_HAPROXY_HEALTH_CHECK_INTER) and marks one down
# after two failed checks. Their answers die with the node; anything sent later must not.
IN_FLIGHT_S = 1.0
KINDS = {  # what to count per node, by the actor's class name
    "ServeReplica:api:Ingress": "ingress replicas",
    "ShardActor": "shards",
    "HAProxyManager": "HAProxy ingress (Serve proxy)",
}


@dataclass
class Report:
    nodes: dict[str, str] = field(default_factory=dict)  # node id -> "node1 10.200.n.1"
    before: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> node -> count
    encode_tasks: dict[str, int] = field(default_factory=dict)  # node -> encode_chunk tasks
    encode_status: str = ""
    encode_s: float = 0.0
    shard_endpoints: list[str] = field(default_factory=list)
    crossing: dict[str, int] = field(default_factory=dict)
    fault: FaultResult | None = None
    killed_processes: int = 0
    errors_at: list[str] = field(default_factory=list)
    in_flight_lost: int = 0  # sent within IN_FLIGHT_S of the kill, answered 500 or not at all
    late_errors: int = 0  # the same, for requests sent after that: never expected
    node_dead_after_s: float | None = None
    after: dict[str, dict[str, int]] = field(default_factory=dict)
    start_s: float = 0.0
    total_s: float = 0.0

    @property
    def clean(self) -> bool:
        both = (
            len(self.before.get("ingress replicas", {})) == 2
            and len(self.before.get("shards", {})) == 2
            and len(self.encode_tasks) == 2
        )
        replicas = sum(self.before.get("ingress replicas", {}).values())
        f = self.fault
        return (
            both
            and all(self.crossing.values())
            and f is not None
            and f.lost_writes == 0
            and f.limit_violations == 0
            and f.bare_503 + f.other_5xx + f.hangs == 0
            and f.recovery_s is not None
            and self.late_errors == 0  # 500s and unanswered requests only at the kill itself
            and self.after.get("ingress replicas", {}) == {"node1": replicas}
            and set(self.after.get("shards", {})) == {"node1"}
        )


class NodeChaos(Chaos):
    """:class:`Chaos` with one more fault, ``node``: the second node dies whole."""

    def __init__(self, stack: LocalStack, node: SecondNode, replicas: int, **kwargs: Any) -> None:
        super().__init__(stack, **kwargs)
        self.node = node
        self.replicas = replicas  # Ingress replicas to wait for after the kill
        self.killed = 0
        self.killed_at = 0.0
        self.errors_at: list[str] = []  # when (after the kill) each lost answer came
        self.in_flight_lost = 0
        self.late_errors = 0

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.monotonic()
        response = await super().request(method, path, **kwargs)
        lost = response is None or response.status_code == 500  # no answer, or HAProxy's 502
        if self.killed_at and lost:
            sent = started - self.killed_at
            if sent < IN_FLIGHT_S:
                self.in_flight_lost += 1
            else:
                self.late_errors += 1
            self.errors_at.append(
                f"{method} {path.split('/')[-1]} sent +{sent:.1f}s, "
                f"{'no answer' if response is None else '500'} +"
                f"{time.monotonic() - self.killed_at:.1f}s"
            )
        return response

    def ray_managed(self, fault: str) -> bool:
        return fault == "node" or super().ray_managed(fault)

    def kill_ray_worker(self, fault: str) -> tuple[str, int]:
        if fault != "node":
            return super().kill_ray_worker(fault)
        self.killed_at = time.monotonic()
        self.killed = self.node.kill()
        return f"node2 {self.node.net.ns_ip}: {self.killed} processes", 0

    async def wait_replaced(self, fault: str, count: int, timeout_s: float = 180.0) -> float | None:
        """Until every Ingress replica and shard is ALIVE again, all on the first node."""
        if fault != "node":
            return await super().wait_replaced(fault, count, timeout_s)
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            with_node = await asyncio.to_thread(placement, self.stack, self.node)
            replicas = with_node.get("ingress replicas", {})
            shards = with_node.get("shards", {})
            if replicas == {"node1": self.replicas} and shards == {"node1": self.node.shards}:
                return time.monotonic() - start
            await asyncio.sleep(1)
        return None


def node_names(stack: LocalStack, node: SecondNode) -> dict[str, str]:
    assert stack.head is not None
    return {
        n["node_id"]: ("node2" if n["node_id"] == node.node_id else "node1")
        for n in stack.head.nodes()
    }


def placement(stack: LocalStack, node: SecondNode) -> dict[str, dict[str, int]]:
    """kind -> node name -> ALIVE actors of that kind there."""
    assert stack.head is not None
    names = node_names(stack, node)
    actors = list_actors(
        address=stack.head.dashboard_url,
        filters=[("state", "=", "ALIVE")],
        limit=10_000,
        raise_on_missing_output=False,
    )
    found: dict[str, Counter[str]] = {}
    for actor in actors:
        kind = KINDS.get(actor.class_name)
        if kind is not None:
            node_id = actor.node_id or "?"
            found.setdefault(kind, Counter())[names.get(node_id, node_id)] += 1
    return {kind: dict(sorted(counts.items())) for kind, counts in found.items()}


def make_clip(path: Path, seconds: int = 10) -> bytes:
    subprocess.run(
        [
            binary("ffmpeg"),
            "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=24:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "48", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path.read_bytes()


async def encode_on_both(
    stack: LocalStack, node: SecondNode, report: Report, clips: int = 2, timeout_s: float = 300
) -> None:
    """Upload ``clips`` clips at once as the admin and wait for their jobs; count the
    ``encode_chunk`` tasks per node. Two at once: Ray's default (hybrid) scheduling keeps tasks
    on the submitting node while it has free CPUs, and one 10 s clip may not overflow it."""
    assert stack.head is not None
    env = stack.env()
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    with tempfile.TemporaryDirectory() as tmp:
        videos = [
            await asyncio.to_thread(make_clip, Path(tmp) / f"source{i}.mp4", 10 + i)
            for i in range(clips)
        ]
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        login = await client.post(
            "/v1/auth/login",
            json={"email": settings.admin_email, "password": settings.admin_password},
        )
        login.raise_for_status()
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}

        async def upload(index: int, video: bytes) -> dict[str, Any]:
            metadata = {
                "title": f"Two Nodes {index + 1}",
                "description": "Encoded across two Ray nodes",
                "genre": ["drama"],
                "rating": "PG",
                "release_year": 2026,
            }
            made = await client.post(
                "/v1/admin/content",
                headers=admin,
                files={
                    "metadata": (None, json.dumps(metadata), "application/json"),
                    "video_file": ("source.mp4", video, "video/mp4"),
                },
            )
            made.raise_for_status()
            content_id = made.json()["content_id"]
            status: dict[str, Any] = {}
            while time.monotonic() - started < timeout_s:
                got = await client.get(
                    f"/v1/admin/content/{content_id}/processing-status", headers=admin
                )
                status = got.json()
                if status.get("status") in ("completed", "failed"):
                    break
                await asyncio.sleep(1)
            return status

        statuses = await asyncio.gather(*(upload(i, v) for i, v in enumerate(videos)))
    report.encode_s = time.monotonic() - started
    states = {str(status.get("status", "unknown")) for status in statuses}
    report.encode_status = states.pop() if len(states) == 1 else "/".join(sorted(states))
    names = node_names(stack, node)
    tasks = await asyncio.to_thread(
        list_tasks,
        address=stack.head.dashboard_url,
        filters=[("name", "=", "encode_chunk")],
        limit=10_000,
        raise_on_missing_output=False,
    )
    counts = Counter(names.get(t.node_id or "", "?") for t in tasks if t.state == "FINISHED")
    report.encode_tasks = dict(sorted(counts.items()))


async def node_dead_after(stack: LocalStack, node: SecondNode, since: float) -> float | None:
    """Seconds until the cluster lists the second node DEAD."""
    assert stack.head is not None
    while time.monotonic() - since < 180:
        try:
            nodes = await asyncio.to_thread(stack.head.nodes)
        except OSError:
            nodes = []
        if any(n["node_id"] == node.node_id and n.get("state") == "DEAD" for n in nodes):
            return time.monotonic() - since
        await asyncio.sleep(0.5)
    return None


class MultiNode:
    """The whole demonstration against a stack whose second node is attached and started."""

    def __init__(self, stack: LocalStack, node: SecondNode, viewers: int, say: Say) -> None:
        self.stack = stack
        self.node = node
        self.say = say
        self.viewers = viewers

    async def run(self, encode: bool = True) -> Report:
        report = Report()
        assert self.stack.head is not None
        names = await asyncio.to_thread(node_names, self.stack, self.node)
        ips = {n["node_id"]: n["node_ip"] for n in self.stack.head.nodes()}
        report.nodes = {name: ips[node_id] for node_id, name in names.items()}
        report.before = await asyncio.to_thread(placement, self.stack, self.node)
        self.say(f"placement: {report.before}")
        if encode:
            self.say("uploading two clips at once; encoding them on the cluster")
            await encode_on_both(self.stack, self.node, report)
            self.say(
                f"encode {report.encode_status} in {report.encode_s:.0f}s; "
                f"encode_chunk tasks per node: {report.encode_tasks}"
            )
        chaos = NodeChaos(
            self.stack,
            self.node,
            sum(report.before.get("ingress replicas", {}).values()),
            viewers=self.viewers,
            racers=4,
            say=self.say,
        )
        try:
            self.say(f"setting up {self.viewers} viewers")
            await chaos.setup(1)
            for _ in range(2):
                await chaos.round()
            endpoints = await asyncio.to_thread(self.node.endpoints)
            report.shard_endpoints = [f"{h}:{p}" for h, p in endpoints]
            report.crossing = await asyncio.to_thread(crossing, self.node, endpoints)
            self.say(f"shard endpoints {report.shard_endpoints}; crossing {report.crossing}")
            killed_at = time.monotonic()
            dead = asyncio.get_running_loop().create_task(
                node_dead_after(self.stack, self.node, killed_at)
            )
            report.fault = await chaos.run_fault("node", chaos.probe_accounts[0])
            report.killed_processes = chaos.killed
            report.errors_at = chaos.errors_at
            report.in_flight_lost = chaos.in_flight_lost
            report.late_errors = chaos.late_errors
            report.node_dead_after_s = await dead
        finally:
            await chaos.client.aclose()
        report.after = await asyncio.to_thread(placement, self.stack, self.node)
        self.say(f"node2 listed DEAD after {report.node_dead_after_s}s; placement: {report.after}")
        return report


# -- report ------------------------------------------------------------------------------------


IN_FLIGHT_NOTE = (
    "**What a node's death costs in flight.** Requests HAProxy had already handed to the dying "
    "node's replica lose their answer with it: HAProxy's own log (captured once with a syslog "
    "listener) showed ten client connections to the dead replica closed without a log line or an "
    "answer, and one `SH--` 502 (server closed before its headers, not replayed although "
    "`retry-on empty-response` is set), which Serve's error file turns into a plain 500. A lone "
    "replica SIGKILLed on one host lost nothing in `docs/chaos.md`; why HAProxy 2.8 replays "
    "neither here is not established (a reset rather than a clean close is the likely "
    "difference). Nothing acknowledged is lost and every such request is safe to repeat (progress "
    "only moves forward, a device's new start replaces its own session), so a player's retry "
    "gets an answer. The verdict fails if any request sent later than "
    f"{IN_FLIGHT_S:.0f} s after the kill gets a 500 or no answer."
)


def write_report(out: Path, report: Report, args: argparse.Namespace) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = ("python -m loadtest.multinode " + " ".join(sys.argv[1:])).strip()
    out.mkdir(parents=True, exist_ok=True)
    body = {"generated": when, "command": command, "cores": os.cpu_count(), **asdict(report)}
    (out / "multinode.json").write_text(json.dumps(body, indent=2) + "\n")
    f = report.fault

    def per_node(counts: dict[str, int]) -> str:
        return ", ".join(f"{node}: {n}" for node, n in counts.items()) or "none"

    rows = [
        f"| {kind} | {per_node(report.before.get(kind, {}))} | "
        f"{per_node(report.after.get(kind, {}))} |"
        for kind in KINDS.values()
    ]
    lines = [
        "# More than one node",
        "",
        f"Generated by `{command}` (`make chaos`) on {when}, {os.cpu_count()} cores, "
        f"in {report.total_s:.0f}s (stack start {report.start_s:.0f}s). The second Ray node runs "
        "in its own network namespace with its own address; see `stack/multinode.py`. "
        f"Nodes: {', '.join(f'{k} {v}' for k, v in sorted(report.nodes.items()))}. Verdict: "
        f"**{'clean' if report.clean else 'NOT clean'}**.",
        "",
        "## Placement (ALIVE actors per node, from the dashboard's state API)",
        "",
        "| what | before the kill | after the kill |",
        "| --- | --- | --- |",
        *rows,
        f"| encode_chunk tasks (two uploads of 10-11 s at once, {report.encode_status} in "
        f"{report.encode_s:.0f}s) | {per_node(report.encode_tasks)} | |",
        "",
        "## Shard sockets crossing nodes",
        "",
        f"Shard endpoints (host:port from `ShardActor.endpoint`): "
        f"{', '.join(report.shard_endpoints)}. Established TCP connections from a replica to a "
        "shard on the other node, counted with `ss` in each namespace while viewers' heartbeats "
        f"flowed: {per_node(report.crossing)}.",
        "",
        "## The second node killed under load",
        "",
    ]
    if f is not None:
        lines += [
            f"{args.viewers} viewers heartbeat every second; every process of node2's "
            f"namespace ({report.killed_processes}) got SIGKILL at once, with a racing-starts "
            "probe on a one-stream account.",
            "",
            f"- lost writes: **{f.lost_writes} of {f.positions_checked}** acknowledged "
            "positions (checked against MongoDB after the flush)",
            f"- stream-limit violations: **{f.limit_violations}** (probe: {f.probe})",
            f"- errors: {f.retry_503} 503 with Retry-After, {f.bare_503} without, "
            f"{f.status_500} 500, {f.other_5xx} other 5xx, {f.hangs} hangs, {f.conn_errors} "
            f"connection errors, of {f.requests:,} requests",
            f"- node2 listed DEAD by the cluster after {report.node_dead_after_s or -1:.1f}s",
            f"- recovery (first round in which every heartbeat got a 2xx): "
            f"{'not recovered' if f.recovery_s is None else f'{f.recovery_s:.1f}s'}",
            f"- every replica and shard ALIVE on node1 after {f.replaced_after_s or -1:.0f}s",
            f"- answers lost in flight at the kill (sent within {IN_FLIGHT_S:.0f} s of it, 500 or "
            f"no answer): **{report.in_flight_lost}**; after that: **{report.late_errors}**",
            "- when each lost answer came (request sent / failed, after the "
            f"kill): {'; '.join(report.errors_at) or 'none'}",
            *[f"  - e.g. `{example}`" for example in f.examples[:4]],
            "",
        ]
        if report.in_flight_lost:
            lines += [IN_FLIGHT_NOTE, ""]
    (out / "multinode.md").write_text("\n".join(lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.multinode", description=__doc__)
    parser.add_argument("--viewers", type=int, default=24)
    parser.add_argument("--no-encode", action="store_true", help="skip the upload")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    return parser.parse_args(argv)


async def demonstrate(
    stack: LocalStack, node: SecondNode, viewers: int, say: Say, encode: bool = True
) -> Report:
    return await MultiNode(stack, node, viewers, say).run(encode=encode)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("MONGODB_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="multinode-") as tmp:
        stack = LocalStack.private(Path(tmp), extra_env=STACK_ENV)
        node = SecondNode(stack, say=lambda line: print(f"[stack] {line}", flush=True))
        print(f"starting a private two-node stack in {tmp}", flush=True)
        try:
            node.attach()
            stack.start(say=lambda line: print(f"[stack] {line}", flush=True))
            started = time.monotonic() - began
            report = asyncio.run(
                demonstrate(
                    stack, node, args.viewers, lambda line: print(line, flush=True),
                    encode=not args.no_encode,
                )
            )  # fmt: skip
            report.start_s = started
            write_report(args.out, report, args)  # now, whatever the stop below does
        finally:
            try:
                node.leave()
                stack.stop(say=lambda line: None)  # drains the shards through the head's address
            finally:
                node.close()  # then the namespace and its address go
                stack.remove_scratch()
    report.total_s = time.monotonic() - began
    write_report(args.out, report, args)
    print((args.out / "multinode.md").read_text())
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
