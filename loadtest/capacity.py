"""``python -m loadtest.capacity``: ``docs/capacity.md`` from the numbers ``make bench`` measured.

The model is plain arithmetic on measured unit costs (``docs/benchmarks.json``): CPU milliseconds
per heartbeat and per session start for each process kind, MongoDB writes per heartbeat at the
real cadence, Redis commands per request, shard bytes per active session. What it assumes about
viewers (cadence, session length, events per minute) and about production (headroom, node
size, how fast a real MongoDB and Redis are) is listed at the top of the output, so every
number can be traced to a measurement or to an assumption.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT = "PUT /v1/profiles/{id}/progress (heartbeat)"
START = "POST /v1/playback/sessions (restart)"
STREAMS = (100_000, 1_000_000, 10_000_000)


@dataclass(frozen=True)
class Assumptions:
    heartbeat_interval_s: float = 10.0  # the players' cadence (the issue's one per 10 s)
    session_minutes: float = 45.0  # average play before a new session start
    events_per_minute: float = 2.0  # QoE events per stream, priced like a heartbeat
    headroom: float = 0.6  # plan cores to run at 60 % busy: spikes, failover, GC
    node_cores: int = 16  # a worker node, e.g. KubeRay pods on 16-vCPU machines
    replica_cores: float = 0.8  # what one Python replica or shard process can use of a core
    mongo_writes_per_s_per_node: int = 20_000  # a real replica-set primary on NVMe (not measured)
    redis_ops_per_s_per_shard: int = 100_000  # one Redis Cluster shard (not measured)


@dataclass(frozen=True)
class Plan:
    streams: int
    heartbeats_s: float
    starts_s: float
    cores: dict[str, float]
    ingress_replicas: int
    shards: int
    shard_memory_gib: float
    nodes: int
    mongo_writes_s: float
    mongo_nodes: int
    redis_ops_s: float
    redis_shards: int


def _cost(measured: dict[str, Any], name: str) -> dict[str, float]:
    return dict(measured["scenarios"][name]["cpu_ms_per_request"])


def plan_for(streams: int, measured: dict[str, Any], a: Assumptions) -> Plan:
    beats = streams / a.heartbeat_interval_s + streams * a.events_per_minute / 60
    starts = streams / (a.session_minutes * 60)
    per_beat, per_start = _cost(measured, HEARTBEAT), _cost(measured, START)
    kinds = ("ingress replica", "shard actor", "haproxy", "ray system")
    cores = {
        kind: (beats * per_beat.get(kind, 0.0) + starts * per_start.get(kind, 0.0))
        / 1000
        / a.headroom
        for kind in kinds
    }
    viewers = measured.get("viewers") or {}
    writes_per_beat = (viewers.get("progress_docs_per_heartbeat") or 0.0) + (
        viewers.get("event_docs_per_heartbeat") or 0.0
    )
    commands = measured["scenarios"][HEARTBEAT].get("redis_commands_per_request") or 0.0
    start_commands = measured["scenarios"][START].get("redis_commands_per_request") or 0.0
    # Documents per heartbeat measured over the viewers' steady window (longer than one persist
    # period, so periodic persists are in it), plus each new stream's first position.
    mongo = streams / a.heartbeat_interval_s * writes_per_beat + starts
    redis_ops = beats * commands + starts * start_commands
    shards = max(2, math.ceil(cores["shard actor"] / a.replica_cores))
    memory = streams * measured["shard_bytes_per_session"] / 2**30
    return Plan(
        streams=streams,
        heartbeats_s=beats,
        starts_s=starts,
        cores=cores,
        ingress_replicas=max(2, math.ceil(cores["ingress replica"] / a.replica_cores)),
        shards=shards,
        shard_memory_gib=memory,
        nodes=max(1, math.ceil(sum(cores.values()) / a.node_cores)),
        mongo_writes_s=mongo,
        mongo_nodes=max(1, math.ceil(mongo / a.mongo_writes_per_s_per_node)),
        redis_ops_s=redis_ops,
        redis_shards=max(1, math.ceil(redis_ops / a.headroom / a.redis_ops_per_s_per_shard)),
    )


def _ray_service(plan: Plan, a: Assumptions) -> list[str]:
    return [
        "On Kubernetes the deployment is the KubeRay `RayService` in",
        "[`deploy/kuberay/rayservice.yaml`](../deploy/kuberay/rayservice.yaml): its `serveConfigV2` carries",
        "the same `applications:` block as `ray_config.yaml` (a test keeps them equal), with head, worker",
        "and encoding groups, HAProxy settings and `/healthz`/`/readyz` probes, validated offline against",
        f"KubeRay's CRD schema. For 1M streams set, in both files, `shard_count: {plan.shards}` and the Ingress to",
        f"`autoscaling_config: {{min_replicas: {max(2, plan.ingress_replicas // 2)}, "
        f"max_replicas: {plan.ingress_replicas * 2}, target_ongoing_requests: 4, "
        "upscale_delay_s: 5, downscale_delay_s: 60, look_back_period_s: 15}` "
        "([autoscaling.md](autoscaling.md))",
        f"with `ray_actor_options: {{num_cpus: {a.replica_cores}}}`, and give the `workers` group "
        f"{plan.nodes} nodes of {a.node_cores} cores",
        f"(`minReplicas: {max(1, plan.nodes // 2)}`, `maxReplicas: {plan.nodes * 2}`). Change "
        '`shard_count` online with `serve deploy` (README, "Resizing the shard pool";',
        "[resize.md](resize.md)). Monitoring: [`deploy/prometheus/`](../deploy/prometheus/),",
        "[`deploy/grafana/dashboard.json`](../deploy/grafana/dashboard.json),",
        "[runbook.md](runbook.md).",
    ]


def encoding_section(encode: dict[str, Any] | None, a: Assumptions) -> list[str]:
    """Encode cores per hour of uploaded video, from ``docs/encode-benchmark.json``."""
    if not encode:
        return [
            "## Encoding",
            "",
            "No `docs/encode-benchmark.json` yet: run `make bench-encode`.",
            "",
        ]
    pipeline, plain = encode["summary"]["ray2"], encode["summary"]["ffmpeg"]
    per_video_s = pipeline["cpu_s_per_video_s"]
    hours = (1, 10, 100)
    return [
        "## Encoding (uploads)",
        "",
        f"Measured by `make bench-encode` ({encode['generated']}, {encode['args']}): the pipeline "
        f"burns {per_video_s:.2f} CPU seconds per second of 1080p source for the whole ladder "
        f"(plain ffmpeg: {plain['cpu_s_per_video_s']:.2f}). Keeping up with uploads therefore needs, "
        f"at {a.headroom:.0%} busy:",
        "",
        "| hours of video uploaded per hour | " + " | ".join(f"{h}" for h in hours) + " |",
        "| --- | " + " | ".join("---:" for _ in hours) + " |",
        "| encode cores (Ray worker group) | "
        + " | ".join(f"{h * per_video_s / a.headroom:,.1f}" for h in hours)
        + " |",
        "",
        "The test source (a synthetic pattern) is cheaper to encode than real footage: treat "
        "these as a floor.",
        "",
    ]


def render(measured: dict[str, Any], a: Assumptions, encode: dict[str, Any] | None = None) -> str:
    per_beat, per_start = _cost(measured, HEARTBEAT), _cost(measured, START)
    viewers = measured.get("viewers") or {}
    plans = [plan_for(n, measured, a) for n in STREAMS]
    rows = [
        "| | " + " | ".join(f"{p.streams:,} streams" for p in plans) + " |",
        "| --- | " + " | ".join("---:" for _ in plans) + " |",
        "| heartbeats + QoE events /s | "
        + " | ".join(f"{p.heartbeats_s:,.0f}" for p in plans)
        + " |",
        "| session starts /s | " + " | ".join(f"{p.starts_s:,.0f}" for p in plans) + " |",
    ]
    for kind in plans[0].cores:
        rows.append(
            f"| cores: {kind} | " + " | ".join(f"{p.cores[kind]:,.1f}" for p in plans) + " |"
        )
    rows += [
        "| **cores in all** | "
        + " | ".join(f"**{sum(p.cores.values()):,.0f}**" for p in plans)
        + " |",
        f"| **{a.node_cores}-core Ray nodes** | "
        + " | ".join(f"**{p.nodes:,}**" for p in plans)
        + " |",
        "| Ingress replicas (`num_replicas`) | "
        + " | ".join(f"{p.ingress_replicas:,}" for p in plans)
        + " |",
        "| shard actors (`shard_count`) | " + " | ".join(f"{p.shards:,}" for p in plans) + " |",
        "| shard memory in all (GiB) | "
        + " | ".join(f"{p.shard_memory_gib:,.1f}" for p in plans)
        + " |",
        "| MongoDB writes /s | " + " | ".join(f"{p.mongo_writes_s:,.0f}" for p in plans) + " |",
        "| MongoDB shards (primaries) | " + " | ".join(f"{p.mongo_nodes:,}" for p in plans) + " |",
        "| Redis commands /s | " + " | ".join(f"{p.redis_ops_s:,.0f}" for p in plans) + " |",
        "| Redis Cluster shards | " + " | ".join(f"{p.redis_shards:,}" for p in plans) + " |",
    ]
    shown = ("ingress replica", "shard actor", "haproxy", "ray system", "redis", "mongodb")
    unit = ", ".join(f"{k} {per_beat.get(k, 0.0):.3f}" for k in shown)
    unit_start = ", ".join(f"{k} {per_start.get(k, 0.0):.3f}" for k in shown)
    progress = viewers.get("progress_docs_per_heartbeat") or 0.0
    events = viewers.get("event_docs_per_heartbeat") or 0.0
    return "\n".join(
        [
            "# Capacity model",
            "",
            f"Generated by `python -m loadtest.capacity` from `docs/benchmarks.json` (`make bench`, "
            f"{measured['generated']}, {measured['cores']} cores). Re-run both after a change to the "
            "hot path; nothing here is typed in by hand.",
            "",
            "## Measured (on the benchmark machine)",
            "",
            f"- CPU per heartbeat, ms by process kind (closed loop, medians): {unit}.",
            f"- CPU per session start, ms: {unit_start}.",
            f"- MongoDB documents per heartbeat at the real 10 s cadence "
            f"({viewers.get('viewers', 0):,} viewers, steady window of "
            f"{viewers.get('window_s', 0):.0f} s): {progress:.4f} progress documents and "
            f"{events:.4f} QoE event documents (bulk inserts).",
            "- Redis commands per heartbeat (calls made inside our Lua scripts included): "
            f"{measured['scenarios'][HEARTBEAT].get('redis_commands_per_request') or 0:.2f}; per "
            f"session start: {measured['scenarios'][START].get('redis_commands_per_request') or 0:.2f}.",
            f"- Shard memory per active session: {measured['shard_bytes_per_session']:,.0f} bytes.",
            "",
            "## Assumed (not measured here)",
            "",
            f"- One heartbeat per {a.heartbeat_interval_s:.0f} s per stream, {a.events_per_minute:.0f} "
            f"QoE events per minute priced like heartbeats, a new session every {a.session_minutes:.0f} "
            "minutes per stream.",
            f"- Cores planned at {a.headroom:.0%} busy; one replica or shard process uses at most "
            f"{a.replica_cores} of a core (Python); {a.node_cores}-core worker nodes.",
            "- Linear scale-out: replicas are stateless and shards share nothing, so cost per "
            "request stays what one 2-core machine measured. The benchmark machine also ran the "
            "load generator, MongoDB and Redis, and its CPUs are shared: real per-request costs on "
            "dedicated cores are likely lower, so these are conservative.",
            f"- MongoDB: a production replica set (not the embedded SecantusDB, which manages a "
            f"few thousand writes/s) takes ~{a.mongo_writes_per_s_per_node:,} coalesced upserts/s per "
            "primary; past one primary, shard `progress`/`events` by `profile_id`/`account_id`.",
            f"- Redis: ~{a.redis_ops_per_s_per_shard:,} pipelined commands/s per Redis Cluster shard "
            "(all our multi-key scripts keep one `{account}` or `{shard-i}` hash tag).",
            "",
            "## What a deployment needs",
            "",
            *rows,
            "",
            "Reading it: cores are summed over the Serve ingress replicas, shard actors, HAProxy "
            "(one per node) and Ray's own processes; MongoDB and Redis run outside the Ray cluster. "
            "Shard memory is small next to the ~100 MB base of each shard process, so shards are "
            "sized by CPU, not by memory. Session starts are a rounding error next to heartbeats.",
            "",
            "## The `ray_config.yaml` / KubeRay settings for 1M streams",
            "",
            *_ray_service(plans[1], a),
            "",
            *encoding_section(encode, a),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--measured", type=Path, default=ROOT / "docs" / "benchmarks.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "capacity.md")
    args = parser.parse_args()
    measured = json.loads(args.measured.read_text())
    encode_path = args.measured.parent / "encode-benchmark.json"
    encode = json.loads(encode_path.read_text()) if encode_path.exists() else None
    args.out.write_text(render(measured, Assumptions(), encode))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
