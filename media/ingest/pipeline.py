"""The ingest stages, as the coordinator actor calls them: probe → encode → thumbnails →
distribute, plus current_prefix (deleting an asset is media.ingest.publish.delete_asset).

They run on the coordinator's event loop and never block it: all media work is in Ray tasks
(media/ingest/tasks.py), awaited as futures; store calls here are obstore's async ones.
Every stage starts from scratch and writes nothing that looks finished until it is: re-running
a stage after a crash or an error is always safe. Failures surface as StageError.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from media.ingest import encoding, publish, tasks
from media.ingest.spec import JobSpec, SourceInfo, Stage, StageError, ladder_for
from media.ingest.work import Chunk, TransientError
from media.store import MediaStore

Report = Callable[[float], Awaitable[None] | None]

# Shares of the encode stage's progress bar. Splitting is a stream copy (quick); packaging
# reads and writes every rendition once, a real but small part of the total.
SPLIT_SHARE = 0.05
PACKAGE_SHARE = 0.10
# Audio encoding costs about as much per media second as a tiny video rung; weight it like
# this many pixels of video so its share of the progress bar matches its cost.
AUDIO_WEIGHT_PIXELS = 320 * 180
# Tasks submitted but unfinished, per job: enough to fill a large encoding worker group,
# bounded so a feature film (thousands of chunk x rung tasks) does not flood the scheduler.
MAX_TASKS_IN_FLIGHT = 256
# Per stage, the code for a task failure that is neither a StageError nor a system failure.
_FAILED_CODE: dict[Stage, str] = {
    "upload": "INTERNAL",
    "encoding": "ENCODE_FAILED",
    "thumbnail_generation": "THUMBNAIL_FAILED",
    "cdn_distribution": "STORE_WRITE_FAILED",
}


def _stage_error(stage: Stage, exc: BaseException) -> StageError:
    """What a failed Ray task means for the stage."""
    cause = exc.cause if isinstance(exc, RayTaskError) else exc
    if isinstance(cause, StageError):
        return cause
    if isinstance(cause, TransientError):
        return StageError(stage, "STORE_IO_FAILED", str(cause), transient=True)
    if isinstance(cause, RayError):  # worker or node lost, out of memory, cancelled
        return StageError(stage, "WORKER_LOST", str(cause), transient=True)
    return StageError(stage, _FAILED_CODE[stage], f"{type(cause).__name__}: {cause}")


async def _result(stage: Stage, ref: Any) -> Any:
    """Await one task; if the stage itself is cancelled, cancel the task too."""
    try:
        return await ref
    except (RayError, TransientError) as exc:
        raise _stage_error(stage, exc) from exc
    except asyncio.CancelledError:
        ray.cancel(ref)
        raise


async def _store_call(stage: Stage, call: Awaitable[Any]) -> Any:
    """A store call made on the coordinator's loop: its failures are transient StageErrors."""
    try:
        return await call
    except StageError:
        raise
    except Exception as exc:
        raise StageError(stage, "STORE_IO_FAILED", str(exc), transient=True) from exc


class _Progress:
    """A monotone 0..1 fraction, forwarded to the caller's (sync or async) ``report``."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._value = 0.0

    async def to(self, value: float) -> None:
        value = min(1.0, max(self._value, value))
        if value == self._value and value != 0.0:
            return
        self._value = value
        outcome = self._report(value)
        if inspect.isawaitable(outcome):
            await outcome


async def _run_all(
    stage: Stage,
    submissions: Iterator[tuple[Callable[[], Any], float]],
    on_weight_done: Callable[[float], Awaitable[None]],
) -> None:
    """Submit ``(submit, weight)`` tasks (at most MAX_TASKS_IN_FLIGHT at a time) and wait for
    all. On the first failure, cancel the rest (so a failed job frees the cluster) and raise."""
    pending: dict[asyncio.Future[Any], tuple[Any, float]] = {}
    try:
        while True:
            while len(pending) < MAX_TASKS_IN_FLIGHT:
                submission = next(submissions, None)
                if submission is None:
                    break
                submit, weight = submission
                ref = submit()
                pending[asyncio.wrap_future(ref.future())] = (ref, weight)
            if not pending:
                return
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                _, weight = pending.pop(future)
                try:
                    future.result()
                except (RayError, TransientError) as exc:
                    raise _stage_error(stage, exc) from exc
                await on_weight_done(weight)
    finally:
        for future, (ref, _) in pending.items():
            # Not force: the worker gets KeyboardInterrupt, and tools.run kills its ffmpeg.
            ray.cancel(ref)
            # The cancelled task's error is expected: retrieve it so asyncio does not log it.
            future.add_done_callback(_ignore_outcome)


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _cluster_cpus() -> float:
    """The CPUs the Ray cluster has now (a GCS call: off the event loop)."""
    resources = await asyncio.to_thread(ray.cluster_resources)
    return float(resources.get("CPU", 1.0))


async def probe(store: MediaStore, spec: JobSpec) -> SourceInfo:
    """Probe the uploaded source; StageError(stage="upload") when it cannot be encoded."""
    info: SourceInfo = await _result("upload", tasks.probe_source.remote(store, spec))
    return info


async def encode(store: MediaStore, spec: JobSpec, source: SourceInfo, report: Report) -> None:
    """Split → encode every chunk x rung (and the audio) in parallel tasks → join and package
    (DASH + HLS, CENC) under ``spec.out_prefix``. Progress goes to ``report`` (0..1)."""
    progress = _Progress(report)
    await progress.to(0.0)
    rungs = ladder_for(source, spec.rungs)
    try:
        # An earlier attempt's scratch.
        await _store_call("encoding", store.delete_prefix(spec.work_prefix))
        chunks: list[Chunk] = await _result(
            "encoding", tasks.split_source.remote(store, spec, source)
        )
        await progress.to(SPLIT_SHARE)

        groups = encoding.task_groups(rungs, len(chunks), await _cluster_cpus())

        def submissions() -> Iterator[tuple[Callable[[], Any], float]]:
            if source.has_audio:  # the longest single task: start it first
                yield (
                    functools.partial(tasks.encode_audio_track.remote, store, spec, source),
                    source.duration_s * AUDIO_WEIGHT_PIXELS,
                )
            for chunk in chunks:
                for group in groups:  # one decode of the chunk per group
                    yield (
                        functools.partial(tasks.encode_chunk.remote, store, spec, chunk, group),
                        chunk.duration_s * sum(rung.width * rung.height for rung in group),
                    )

        total = sum(weight for _, weight in submissions()) or 1.0
        done = 0.0
        encode_share = 1.0 - SPLIT_SHARE - PACKAGE_SHARE

        async def finished(weight: float) -> None:
            nonlocal done
            done += weight
            await progress.to(SPLIT_SHARE + encode_share * done / total)

        await _run_all("encoding", submissions(), finished)
        await _result(
            "encoding", tasks.package_renditions.remote(store, spec, source, rungs, len(chunks))
        )
    finally:
        await _delete_quietly(store, spec.work_prefix)
    await progress.to(1.0)


async def thumbnails(store: MediaStore, spec: JobSpec, source: SourceInfo) -> None:
    """poster.jpg, background.jpg and the DASH preview-tile track under ``spec.out_prefix``."""
    await _result("thumbnail_generation", tasks.make_thumbnails.remote(store, spec, source))


async def distribute(store: MediaStore, spec: JobSpec, asset_id: str) -> None:
    """Check the packaged version is complete, point the asset at it (one atomic write), then
    delete the asset's other versions."""
    try:
        missing = await publish.missing_files(store, spec.out_prefix)
    except FileNotFoundError as exc:
        raise StageError("cdn_distribution", "MISSING_FILES", f"No manifest: {exc}") from exc
    except Exception as exc:  # store unreachable, or a manifest we cannot parse
        raise StageError(
            "cdn_distribution", "STORE_IO_FAILED", f"{type(exc).__name__}: {exc}", transient=True
        ) from exc
    if missing:
        shown = ", ".join(missing[:5])
        raise StageError(
            "cdn_distribution", "MISSING_FILES", f"{len(missing)} files missing: {shown}"
        )
    try:
        await publish.write_pointer(store, asset_id, spec.out_prefix)
        await publish.prune_versions(store, asset_id, spec.out_prefix)
    except Exception as exc:
        raise StageError(
            "cdn_distribution", "STORE_WRITE_FAILED", str(exc), transient=True
        ) from exc


async def current_prefix_async(store: MediaStore, asset_id: str) -> str | None:
    """The published version prefix of ``asset_id``, or None if it has none."""
    pointer = await publish.read_pointer(store, asset_id)
    return pointer.prefix if pointer else None


def current_prefix(store: MediaStore, asset_id: str) -> str | None:
    """Blocking twin of current_prefix_async, for threads and Ray tasks (not event loops)."""
    raw = store.get_sync(publish.pointer_key(asset_id))
    return None if raw is None else publish.decode_pointer(raw).prefix


async def _delete_quietly(store: MediaStore, prefix: str) -> None:
    # Cleanup only: if it fails, the next run or delete_asset clears the prefix again.
    with contextlib.suppress(Exception):
        await store.delete_prefix(prefix)
