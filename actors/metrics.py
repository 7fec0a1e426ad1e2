"""Prometheus metrics of the playback tier, through Ray's metrics API.

Ray aggregates them from every replica and shard process and serves them on each node's metrics
export port (``--metrics-export-port``, 8080 under ``make run``) at ``/metrics``, with a
``ray_`` prefix. Created lazily per process: Ray metric objects must not be pickled with actors.
"""

from __future__ import annotations

from functools import cache

from ray.util.metrics import Counter, Gauge, Histogram


class ShardMetrics:
    def __init__(self, shard: int) -> None:
        self.tags = {"shard": str(shard)}
        tag = ("shard",)
        self.active_streams = Gauge("shard_active_streams", "sessions holding a stream slot", tag)
        self.buffered = Gauge("shard_buffered_progress", "progress entries not yet in MongoDB", tag)
        self.journal_depth = Gauge(
            "shard_journal_depth", "journal entries awaiting MongoDB (progress + events)", tag
        )
        self.ops = Counter("shard_ops_total", "ops applied, by kind", ("shard", "op"))
        self.refused = Counter("shard_refused_total", "ops refused, by reason", ("shard", "reason"))
        self.batch_size = Histogram(
            "shard_batch_size",
            "ops per group-commit batch",
            [1, 2, 5, 10, 25, 50, 100, 250, 500],
            tag,
        )
        self.flush_docs = Histogram(
            "shard_flush_documents", "MongoDB documents per flush", [1, 10, 100, 1000, 10000], tag
        )
        self.flush_lag = Histogram(
            "shard_flush_lag_seconds",
            "age of the oldest buffered update when flushed",
            [0.5, 1, 2, 5, 10, 30, 60],
            tag,
        )


@cache
def shard_metrics(shard: int) -> ShardMetrics:
    return ShardMetrics(shard)


class IngressMetrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "api_requests_total",
            "requests by route template, status and error code",
            ("route", "method", "status", "code"),
        )
        self.queue = Gauge("group_commit_queue_length", "ops waiting for their batch", ("shard",))
        self.batches = Gauge("group_commit_batches", "batches sent by this replica", ())
        self.downloads = Counter(
            "downloads_total",
            "download grants, renewals and revocations, by outcome (ok or the refusal's code)",
            ("event", "outcome"),
        )
        self.downloads_active = Gauge(
            "downloads_active", "downloads holding a license (every replica reports the total)", ()
        )
        self.shed = Counter(
            "api_shed_total",
            "requests refused by priority load shedding (api/shedding.py), by route priority",
            ("priority",),
        )
        self.in_flight = Gauge("api_in_flight", "requests in this replica's pipeline", ())
        self.loop_lag = Gauge(
            "api_loop_lag_ms", "how late this replica's event loop runs (recent worst, ms)", ()
        )
        self.catalog_skipped = Gauge(
            "catalog_skipped",
            "catalog change entries and title documents this replica could not read and skipped",
            ("what",),
        )


@cache
def ingress_metrics() -> IngressMetrics:
    return IngressMetrics()
