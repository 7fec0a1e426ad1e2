"""Writes deploy/grafana/dashboard.json, the streaming backend's business dashboard.

    python deploy/grafana/build_dashboard.py

Edit the panels here, not the JSON: tests/unit/test_deploy_artifacts.py checks the JSON is this
script's output and that every query names a metric the service (or Ray) really exports. Import
the JSON into Grafana (Dashboards → New → Import) and pick the Prometheus data source that
scrapes deploy/prometheus/prometheus.yml's targets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboard.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
ENCODE_TASKS = "encode_chunk|encode_audio_track|package_renditions|make_thumbnails"


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}


class Layout:
    """Panels in rows of a 24-wide grid, each panel ``w`` wide and ``h`` high."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "id": len(self.panels) + 1,
                "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        self.y += 1

    def _newline(self) -> None:
        self.y += self.row_h
        self.x = self.row_h = 0

    def panel(
        self,
        title: str,
        description: str,
        targets: list[tuple[str, str]],
        *,
        kind: str = "timeseries",
        unit: str = "short",
        w: int = 8,
        h: int = 8,
        stack: bool = False,
    ) -> None:
        if self.x + w > 24:
            self._newline()
        custom: dict[str, Any] = {}
        if kind == "timeseries":
            custom = {"drawStyle": "line", "fillOpacity": 10, "showPoints": "never"}
            if stack:
                custom["stacking"] = {"mode": "normal", "group": "A"}
        self.panels.append(
            {
                "type": kind,
                "title": title,
                "description": description,
                "id": len(self.panels) + 1,
                "datasource": DS,
                "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
                "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
                if kind == "timeseries"
                else {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"},
                "targets": [
                    _target(expr, legend, chr(ord("A") + i))
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
        )
        self.x += w
        self.row_h = max(self.row_h, h)


def build() -> dict[str, Any]:
    g = Layout()
    g.row("Viewers")
    g.panel(
        "Active streams",
        "Sessions holding a stream slot, over all shards (ray_shard_active_streams).",
        [("sum(ray_shard_active_streams)", "streams")],
        kind="stat",
        w=4,
    )
    g.panel(
        "Heartbeats/s",
        "Progress heartbeats applied by the shards (shard_ops_total, op=Heartbeat).",
        [(f'sum(rate(ray_shard_ops_total{{op="Heartbeat"}}[{RATE}]))', "heartbeats/s")],
        kind="stat",
        unit="reqps",
        w=4,
    )
    g.panel(
        "Active streams per shard",
        "Uneven shards mean uneven account hashing or a shard that restarted and replays.",
        [("sum by (shard) (ray_shard_active_streams)", "shard {{shard}}")],
        w=8,
    )
    g.panel(
        "Shard ops/s by kind",
        "Heartbeats, starts, stops, player and analytics events applied by the shards.",
        [(f"sum by (op) (rate(ray_shard_ops_total[{RATE}]))", "{{op}}")],
        unit="ops",
        w=8,
        stack=True,
    )
    g.panel(
        "Session starts by outcome",
        "POST /v1/playback/sessions by status and error code: 201 started, 409 "
        "STREAM_LIMIT_REACHED, 403 region/maturity, 429 rate limited, 503 shed.",
        [
            (
                "sum by (status, code) (rate(ray_api_requests_total"
                f'{{route="/v1/playback/sessions", method="POST"}}[{RATE}]))',
                "{{status}} {{code}}",
            )
        ],
        unit="reqps",
        w=12,
        stack=True,
    )
    g.panel(
        "Refusals by reason (shards)",
        "Ops the shards refused: STREAM_LIMIT_REACHED (plan's streams in use), "
        "SESSION_NOT_FOUND (heartbeat of an expired or replaced session).",
        [(f"sum by (reason) (rate(ray_shard_refused_total[{RATE}]))", "{{reason}}")],
        unit="ops",
        w=12,
    )
    g.row("Durability (Redis journal → MongoDB)")
    g.panel(
        "Progress flush lag",
        "Age of the oldest progress update when flushed to MongoDB (last bucket 60 s). "
        "Grows while MongoDB rejects writes; the Redis journal holds the updates meanwhile.",
        [
            (
                f"histogram_quantile(0.5, sum by (le) (rate(ray_shard_flush_lag_seconds_bucket[{RATE}])))",
                "p50",
            ),
            (
                f"histogram_quantile(0.99, sum by (le) (rate(ray_shard_flush_lag_seconds_bucket[{RATE}])))",
                "p99",
            ),
        ],
        unit="s",
    )
    g.panel(
        "Journal depth per shard",
        "Journal entries in Redis awaiting MongoDB (unflushed progress + events). About two "
        "per active stream at steady state (soak: 2,624 with 1,248 viewers).",
        [("sum by (shard) (ray_shard_journal_depth)", "shard {{shard}}")],
        stack=True,
    )
    g.panel(
        "Buffered progress and group-commit queue",
        "Progress entries a shard holds that MongoDB has not seen; ops waiting in the "
        "replicas for their batch to a shard.",
        [
            ("sum by (shard) (ray_shard_buffered_progress)", "buffered, shard {{shard}}"),
            ("sum by (shard) (ray_group_commit_queue_length)", "queued, shard {{shard}}"),
        ],
    )
    g.panel(
        "MongoDB documents per flush (p50, p99)",
        "Size of the shards' bulk writes.",
        [
            (
                f"histogram_quantile(0.5, sum by (le) (rate(ray_shard_flush_documents_bucket[{RATE}])))",
                "p50",
            ),
            (
                f"histogram_quantile(0.99, sum by (le) (rate(ray_shard_flush_documents_bucket[{RATE}])))",
                "p99",
            ),
        ],
        w=12,
    )
    g.panel(
        "Group-commit batch size (p50, p99)",
        "Ops per batch a shard applied: larger under load, which is what keeps a shard cheap.",
        [
            (
                f"histogram_quantile(0.5, sum by (le) (rate(ray_shard_batch_size_bucket[{RATE}])))",
                "p50",
            ),
            (
                f"histogram_quantile(0.99, sum by (le) (rate(ray_shard_batch_size_bucket[{RATE}])))",
                "p99",
            ),
        ],
        w=12,
    )
    g.row("Shedding and errors")
    g.panel(
        "Shed requests/s by code",
        "503 SERVICE_UNAVAILABLE (a store or shard unreachable, a replica loading; always "
        "with Retry-After) and 429 RATE_LIMITED (per-account budgets).",
        [
            (
                "sum by (status, code) (rate(ray_api_requests_total"
                f'{{status=~"503|429"}}[{RATE}]))',
                "{{status}} {{code}}",
            )
        ],
        unit="reqps",
        stack=True,
    )
    g.panel(
        "5xx ratio",
        "Share of API answers that are 5xx: 503 (shedding) apart from the rest (bugs).",
        [
            (
                f'sum(rate(ray_api_requests_total{{status="503"}}[{RATE}])) '
                f"/ sum(rate(ray_api_requests_total[{RATE}]))",
                "503",
            ),
            (
                f'sum(rate(ray_api_requests_total{{status=~"5..", status!="503"}}[{RATE}])) '
                f"/ sum(rate(ray_api_requests_total[{RATE}]))",
                "other 5xx",
            ),
        ],
        unit="percentunit",
    )
    g.panel(
        "Requests/s by status",
        "Every API answer by status.",
        [(f"sum by (status) (rate(ray_api_requests_total[{RATE}]))", "{{status}}")],
        unit="reqps",
        stack=True,
    )
    g.panel(
        "Shard actors by state",
        "Ray's actor table for the shard actors: anything but ALIVE for long is ShardDown.",
        [('sum by (State) (ray_actors{Name="ShardActor"})', "{{State}}")],
        w=12,
    )
    g.panel(
        "Catalog entries skipped",
        "Change entries and title documents a replica could not read (0 when healthy).",
        [("max by (what) (ray_catalog_skipped)", "{{what}}")],
        w=12,
    )
    g.row("Uploads and downloads")
    g.panel(
        "Encode queue",
        "Ray tasks of the media ingest by state: waiting ones (PENDING_*) are the encode queue "
        "the encoding worker group scales on; RUNNING ones use one CPU each.",
        [
            (
                f'sum by (State) (ray_tasks{{Name=~"{ENCODE_TASKS}", State!~"FINISHED|FAILED"}})',
                "{{State}}",
            )
        ],
        w=12,
        stack=True,
    )
    g.panel(
        "Downloads",
        "Offline downloads holding a license, and grants/renewals/revocations by outcome.",
        [
            ("max(ray_downloads_active)", "active licenses"),
            (
                f"sum by (event, outcome) (rate(ray_downloads_total[{RATE}]))",
                "{{event}} {{outcome}}/s",
            ),
        ],
        w=12,
    )
    return {
        "title": "Streaming backend",
        "uid": "streaming-backend",
        "description": "Business KPIs of the streaming backend (deploy/grafana/build_dashboard.py)",
        "tags": ["streaming", "ray-serve"],
        "timezone": "utc",
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-3h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": g.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main() -> int:
    OUT.write_text(render())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
