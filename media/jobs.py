"""Ingest job records: one MongoDB document per asset (collection ``ingest_jobs``).

The document is the job's only durable state: the coordinator actor is a cache of these
documents and rebuilds itself from them after a crash or a restart (Ray's own bookkeeping lives
in memory and is lost with the head). Readers (the processing-status route) read it directly.

Stages run in order; each is ``pending`` → ``in_progress`` → ``completed`` (or ``failed``). A
restarted job re-runs its first stage that is not ``completed``: stages are idempotent, and
nothing a subscriber can see changes before ``cdn_distribution`` completes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from media.ingest.spec import SourceInfo

Stage = Literal["upload", "encoding", "thumbnail_generation", "cdn_distribution"]
STAGES: tuple[Stage, ...] = ("upload", "encoding", "thumbnail_generation", "cdn_distribution")
StageState = Literal["pending", "in_progress", "completed", "failed"]
JobStatus = Literal["queued", "processing", "completed", "failed"]

# Share of ``progress`` (0-100) each stage is worth once complete: encoding dominates the wall
# time. ``upload`` ends when the stored source has been probed and found encodable.
STAGE_WEIGHTS: dict[Stage, int] = {
    "upload": 10,
    "encoding": 75,
    "thumbnail_generation": 5,
    "cdn_distribution": 10,
}
# Before a job has measured its own speed: seconds of video encoded per wall second, a
# conservative guess for a 2-core machine; every finished job replaces it with a measurement.
DEFAULT_SPEED = 1.0
SPEED_KEY = "ingest:speed"  # Redis: the last finished job's measured speed


def _initial_stages() -> dict[str, StageState]:
    stages: dict[str, StageState] = {stage: "pending" for stage in STAGES}
    stages["upload"] = "in_progress"  # the bytes are stored; the probe ends this stage
    return stages


class JobError(msgspec.Struct, kw_only=True):
    stage: Stage
    code: str
    message: str


class Job(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="_id")  # the asset id: one job per asset
    title_id: str
    kind: Literal["main", "episode"] = "main"
    season: int | None = None
    episode: int | None = None
    source_keys: list[str]
    source_bytes: int
    status: JobStatus = "queued"
    stages: dict[str, StageState] = msgspec.field(default_factory=_initial_stages)
    progress: int = 0
    attempts: dict[str, int] = msgspec.field(default_factory=dict)
    error: JobError | None = None
    source: SourceInfo | None = None  # known once probed (the end of the upload stage)
    speed: float | None = None  # seconds of video per wall second, measured while encoding
    version: int = 0  # output version: each run writes under assets/{id}/v{version}/
    key_id: str  # 32 hex: this asset's own Clear Key (never shared with another asset)
    key: str  # 32 hex: the content key; only licenses hand it out
    idempotency_key: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    stage_started_at: datetime | None = None
    heartbeat_at: datetime | None = None  # last sign of progress (the watchdog reads it)
    completed_at: datetime | None = None

    def next_stage(self) -> Stage | None:
        return next((s for s in STAGES if self.stages.get(s) != "completed"), None)

    def progress_at(self, stage: Stage, fraction: float) -> int:
        """Overall progress with ``stage`` ``fraction`` done (0..1) and every earlier stage done."""
        done = sum(STAGE_WEIGHTS[s] for s in STAGES[: STAGES.index(stage)])
        return min(100, int(done + STAGE_WEIGHTS[stage] * max(0.0, min(1.0, fraction))))


def utc_now() -> datetime:
    return datetime.now(UTC)


def estimated_completion(job: Job, *, speed: float | None, now: datetime) -> datetime | None:
    """When the job should finish, from measured speed (this job's, else the last job's).

    Encoding takes ``duration / speed`` seconds; the other stages are counted as the share of
    the job's progress they weigh. None once finished or failed.
    """
    if job.status in ("completed", "failed"):
        return None
    rate = job.speed or speed or DEFAULT_SPEED
    duration = job.source.duration_s if job.source is not None else _duration_guess(job)
    encode_total = duration / max(rate, 1e-3)
    remaining_share = (100 - job.progress) / STAGE_WEIGHTS["encoding"]
    return now + timedelta(seconds=max(1.0, encode_total * remaining_share))


def _duration_guess(job: Job) -> float:
    # Not probed yet: a source of 1 MB per 2 s of video is typical of a mezzanine upload.
    return max(1.0, job.source_bytes / 500_000)


class ProcessingStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Seed A's ``processing-status`` body, plus the asset and a failure's ``error``."""

    content_id: str
    status: JobStatus
    progress: int
    stages: dict[str, StageState]
    estimated_completion: str | None
    asset_id: str
    error: JobError | None = None
    attempts: dict[str, int] = msgspec.field(default_factory=dict)
