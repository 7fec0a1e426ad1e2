"""The ingest coordinator: one detached, named Ray actor that drives every encoding job.

It owns no state that matters: each job is a MongoDB document (:mod:`media.jobs`), and this
actor is a cache of the unfinished ones. Ray restarts it after a crash (``max_restarts=-1``) and
the ingress replicas wake it every few seconds, so after a crash or a ``make run`` restart every
unfinished job resumes at its first stage that is not ``completed``. The heavy work runs in
Ray tasks scheduled anywhere in the cluster (:mod:`media.ingest.pipeline`); this actor only
awaits them, writes progress, and enforces the limits:

- at most ``INGEST_MAX_JOBS`` jobs run at once; the others stay ``queued``, oldest first;
- a stage that reported no progress for ``INGEST_STALL_S`` is cancelled and run again (the
  watchdog), and a stage that failed ``INGEST_MAX_ATTEMPTS`` times fails the job;
- a job whose document disappeared (its content was deleted) stops, and its media is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import ray
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from core.config import IngestSettings, Settings
from core.storage import Document, mongo_client, redis_client
from media import jobs as records
from media.ingest import pipeline
from media.ingest.publish import delete_asset, version_prefix
from media.ingest.spec import DEFAULT_LADDER, JobSpec, SourceInfo, StageError, ladder_for
from media.ingest.uploads import expire_uploads
from media.jobs import Job, JobError, Stage
from media.store import MediaStore

log = logging.getLogger("actors.ingest")

NAME = "ingest-coordinator"
NAMESPACE = "streaming"
POLL_S = 1.0  # new jobs are also announced with wake(); polling covers a lost wake
UPLOAD_SWEEP_S = 60.0  # how often abandoned resumable uploads are looked for
HEARTBEAT_WRITE_S = 2.0  # progress reaches MongoDB at most this often per job


# What makes a completed job's asset playable as its title's media (the catalog's business:
# ``api.ingest.linking.link_ready_asset``, handed in by deployments/ so actors/ never imports
# api/). Ray pickles it by reference: the actor imports its module when it is created.
LinkReady = Callable[[AsyncDatabase[Document], Redis, Job], Awaitable[None]]


def coordinator(link_ready: LinkReady) -> Any:
    """The one coordinator of the cluster: created by the first replica, found by the others."""
    return IngestCoordinator.options(  # type: ignore[attr-defined]
        name=NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote(link_ready)


class _Cancelled(Exception):
    """The job's document is gone: its content was deleted while it ran."""


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class IngestCoordinator:
    def __init__(self, link_ready: LinkReady) -> None:
        self.link_ready = link_ready
        settings = Settings.from_env()
        logging.basicConfig(
            level=settings.runtime.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        self.settings: IngestSettings = settings.ingest
        self.db: AsyncDatabase[Document] = mongo_client(settings)[settings.mongodb_db]
        self.redis = redis_client(settings)
        self.store = MediaStore.from_url(settings.ingest.store_url)
        self.running: dict[str, asyncio.Task[None]] = {}
        self.last_progress: dict[str, float] = {}  # job id → monotonic time of its last report
        self.loop: asyncio.Task[None] | None = None
        self.wakeup: asyncio.Event | None = None
        self.stats = {"completed": 0, "failed": 0, "stalled": 0, "resumed": 0}

    # -- the actor's interface -------------------------------------------------------------

    async def wake(self) -> None:
        """A job was created, retried or deleted (or a replica's periodic nudge)."""
        self._ensure_loop()
        assert self.wakeup is not None
        self.wakeup.set()

    async def status(self) -> dict[str, Any]:
        self._ensure_loop()
        return {"running": sorted(self.running), **self.stats}

    # -- scheduling --------------------------------------------------------------------------

    def _ensure_loop(self) -> None:
        if self.loop is None or self.loop.done():
            self.wakeup = asyncio.Event()
            self.loop = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self.wakeup is not None
        first = True
        swept = 0.0
        while True:
            try:
                await self._schedule(resuming=first)
                self._watchdog()
                first = False
                if time.monotonic() - swept > UPLOAD_SWEEP_S:
                    swept = time.monotonic()
                    expired = await expire_uploads(self.db, self.store, self.settings.upload_ttl_s)
                    if expired:
                        log.info("removed %d abandoned uploads", expired)
            except Exception:
                log.exception("ingest scheduling failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), POLL_S)
            self.wakeup.clear()

    async def _schedule(self, *, resuming: bool) -> None:
        for job_id, task in list(self.running.items()):
            if task.done():
                del self.running[job_id]
                self.last_progress.pop(job_id, None)
        free = self.settings.max_jobs - len(self.running)
        if free <= 0:
            return
        cursor = (
            self.db.ingest_jobs.find(
                {"status": {"$in": ["queued", "processing"]}, "_id": {"$nin": list(self.running)}}
            )
            .sort("created_at", 1)
            .limit(free)
        )
        async for doc in cursor:
            job = msgspec.convert(doc, Job)
            if resuming and job.status == "processing":
                self.stats["resumed"] += 1
                log.info("resuming job %s at stage %s", job.id, job.next_stage())
            self.last_progress[job.id] = time.monotonic()
            self.running[job.id] = asyncio.get_running_loop().create_task(self._drive(job.id))

    def _watchdog(self) -> None:
        now = time.monotonic()
        for job_id, task in self.running.items():
            if (
                not task.done()
                and now - self.last_progress.get(job_id, now) > self.settings.stall_s
            ):
                log.warning(
                    "job %s made no progress for %ss; re-running its stage",
                    job_id,
                    self.settings.stall_s,
                )
                self.stats["stalled"] += 1
                task.cancel()  # _drive records the stall; the next _schedule resumes the job

    # -- one job -----------------------------------------------------------------------------

    async def _load(self, job_id: str) -> Job:
        doc = await self.db.ingest_jobs.find_one({"_id": job_id})
        if doc is None:
            raise _Cancelled(job_id)
        return msgspec.convert(doc, Job)

    async def _set(self, job_id: str, changes: dict[str, Any], progress: int | None = None) -> None:
        update: dict[str, Any] = {"$set": {**changes, "updated_at": records.utc_now()}}
        if progress is not None:
            update["$max"] = {"progress": progress}  # progress never goes back
        result = await self.db.ingest_jobs.update_one({"_id": job_id}, update)
        if result.matched_count == 0:
            raise _Cancelled(job_id)

    async def _drive(self, job_id: str) -> None:
        stage: Stage | None = None
        try:
            while True:
                job = await self._load(job_id)
                stage = job.next_stage()
                if stage is None:
                    await self._finish(job)
                    return
                attempts = job.attempts.get(stage, 0) + 1
                now = records.utc_now()
                await self._set(
                    job_id,
                    {
                        "status": "processing",
                        f"stages.{stage}": "in_progress",
                        f"attempts.{stage}": attempts,
                        "stage_started_at": now,
                        "heartbeat_at": now,
                        "started_at": job.started_at or now,
                        "error": None,
                    },
                )
                try:
                    await self._run_stage(job, stage)
                except StageError as exc:
                    if exc.transient and attempts < self.settings.max_attempts:
                        log.warning("job %s: %s (attempt %d), retrying", job_id, exc, attempts)
                        continue
                    await self._fail(
                        job_id, JobError(stage=exc.stage, code=exc.code, message=exc.message)
                    )
                    return
                except (_Cancelled, asyncio.CancelledError):
                    raise
                except Exception as exc:  # a bug or an infrastructure fault: retry, then fail
                    log.exception("job %s: stage %s crashed", job_id, stage)
                    if attempts >= self.settings.max_attempts:
                        await self._fail(
                            job_id,
                            JobError(stage=stage, code="INTERNAL_ERROR", message=repr(exc)[:500]),
                        )
                        return
                    continue
                await self._set(
                    job_id,
                    {f"stages.{stage}": "completed"},
                    progress=job.progress_at(stage, 1.0),
                )
        except _Cancelled:
            log.info("job %s was deleted; removing its media", job_id)
            await delete_asset(self.store, job_id)
        except asyncio.CancelledError:
            # The watchdog (a stall) or the actor stopping. A stalled stage that has used up
            # its attempts fails the job; otherwise the next round re-runs it.
            if stage is not None:
                with contextlib.suppress(Exception):
                    await self._after_stall(job_id, stage)
            raise

    async def _after_stall(self, job_id: str, stage: Stage) -> None:
        job = await self._load(job_id)
        if job.attempts.get(stage, 0) >= self.settings.max_attempts:
            await self._fail(
                job_id,
                JobError(
                    stage=stage,
                    code="STALLED",
                    message=f"no progress for {self.settings.stall_s}s, "
                    f"{job.attempts.get(stage, 0)} times",
                ),
            )

    def _spec(self, job: Job, source: SourceInfo | None) -> JobSpec:
        rungs = ladder_for(source, DEFAULT_LADDER) if source is not None else list(DEFAULT_LADDER)
        return JobSpec(
            asset_id=job.id,
            source_keys=job.source_keys,
            out_prefix=version_prefix(job.id, job.version),
            key_id=job.key_id,
            key=job.key,
            rungs=rungs,
            task_timeout_s=float(self.settings.task_timeout_s),
            chunk_seconds=float(self.settings.chunk_s),
        )

    def _reporter(self, job: Job, stage: Stage) -> Callable[[float], Awaitable[None]]:
        last_write = 0.0
        started = time.monotonic()

        async def report(fraction: float) -> None:
            nonlocal last_write
            now = time.monotonic()
            self.last_progress[job.id] = now
            if now - last_write < HEARTBEAT_WRITE_S and fraction < 1.0:
                return
            last_write = now
            changes: dict[str, Any] = {"heartbeat_at": records.utc_now()}
            if stage == "encoding" and job.source is not None and fraction > 0.05:
                # Measured speed: seconds of video encoded per wall second so far.
                elapsed = max(now - started, 1e-3)
                changes["speed"] = job.source.duration_s * fraction / elapsed
            await self._set(job.id, changes, progress=job.progress_at(stage, fraction))

        return report

    async def _run_stage(self, job: Job, stage: Stage) -> None:
        report = self._reporter(job, stage)
        if stage == "upload":
            source = await pipeline.probe(self.store, self._spec(job, None))
            await self._set(job.id, {"source": msgspec.to_builtins(source)})
            return
        if job.source is None:  # probed before a crash that lost the write: probe again
            raise StageError(stage, "NOT_PROBED", "the source was not probed", transient=True)
        spec = self._spec(job, job.source)
        if stage == "encoding":
            await pipeline.encode(self.store, spec, job.source, report)
        elif stage == "thumbnail_generation":
            await pipeline.thumbnails(self.store, spec, job.source)
        else:
            await pipeline.distribute(self.store, spec, job.id)

    async def _fail(self, job_id: str, error: JobError) -> None:
        log.error("job %s failed at %s: %s %s", job_id, error.stage, error.code, error.message)
        self.stats["failed"] += 1
        await self._set(
            job_id,
            {
                "status": "failed",
                f"stages.{error.stage}": "failed",
                "error": msgspec.to_builtins(error),
            },
        )

    async def _finish(self, job: Job) -> None:
        """The asset is in the store: link it into its title, then say ``completed``."""
        assert job.source is not None
        await self.link_ready(self.db, self.redis, job)
        await self._set(
            job.id,
            {"status": "completed", "completed_at": records.utc_now()},
            progress=100,
        )
        self.stats["completed"] += 1
        speed = job.speed
        if speed:
            await self.redis.set(records.SPEED_KEY, f"{speed:.4f}")
        log.info("job %s completed", job.id)
