"""The units of ingest work as plain functions: store objects in, store objects out.

Each runs in a Ray task (see media/ingest/tasks.py) but knows nothing of Ray, so scripts and
tests can call them directly. Each works in its own temp folder and writes its results to the
store only when complete, under keys derived from the job alone: running one again overwrites
the same keys with the same content (idempotent), and a crash leaves at most scratch objects
under ``work/{asset_id}/``.

Errors: StageError for what the input or the tools decide (not worth an automatic retry);
TransientError for store I/O, which the Ray wrappers retry.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from media.ingest import encoding, packaging, probe, thumbnails
from media.ingest.spec import JobSpec, Rung, SourceInfo, Stage, StageError
from media.ingest.tools import ToolFailed, ToolTimeout, ffmpeg_argv, run
from media.store import MediaStore

# Whole-source tool runs (split, audio, concat + package, tiles) get the per-task timeout plus
# this many seconds per second of media: stream copies and AAC run at 50-500x real time, so
# 1 s per media second is generous yet still turns a hang into an error.
WHOLE_SOURCE_TIMEOUT_PER_MEDIA_S = 1.0
# Container for source chunks: Matroska stores any codec a source may carry.
CHUNK_SUFFIX = ".mkv"
TEMP_PREFIX = "ingest-"


class TransientError(Exception):
    """A store read or write failed; the same task may well succeed when retried."""


class Chunk(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    key: str  # the source chunk in the store
    start_s: float  # where it starts in the source
    duration_s: float


def whole_source_timeout(spec: JobSpec, source: SourceInfo) -> float:
    return spec.task_timeout_s + source.duration_s * WHOLE_SOURCE_TIMEOUT_PER_MEDIA_S


def chunk_key(spec: JobSpec, index: int) -> str:
    return f"{spec.work_prefix}chunks/{index:05d}{CHUNK_SUFFIX}"


def encoded_key(spec: JobSpec, rung: Rung, index: int) -> str:
    return f"{spec.work_prefix}encoded/{rung.name}/{index:05d}.mp4"


def audio_key(spec: JobSpec) -> str:
    return f"{spec.work_prefix}audio.mp4"


@contextmanager
def _store_io(what: str) -> Iterator[None]:
    """Store failures → TransientError (retried by Ray); an absent object stays
    FileNotFoundError, since retrying cannot make it appear."""
    try:
        yield
    except FileNotFoundError:
        raise
    except Exception as exc:  # obstore raises its own error types as well as OSError
        raise TransientError(f"{what}: {exc}") from exc


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        yield Path(tmp)


@contextmanager
def _tool_errors(stage: Stage, failed: str, timed_out: str, what: str) -> Iterator[None]:
    """Tool failures → StageError. A timeout is transient (a loaded or sick machine), a
    failure is not (same input, same ffmpeg, same result)."""
    try:
        yield
    except ToolTimeout as exc:
        raise StageError(stage, timed_out, f"{what}: {exc}", transient=True) from exc
    except ToolFailed as exc:
        raise StageError(stage, failed, f"{what}: {exc.stderr[-500:]}") from exc


def _fetch_source(store: MediaStore, spec: JobSpec, folder: Path) -> Path:
    """The source as one local file (its upload parts concatenated)."""
    local = store.local_path(spec.source_keys[0]) if len(spec.source_keys) == 1 else None
    if local is not None and local.is_file():
        return local  # local store, single part: read it in place, no copy
    path = folder / "source"
    try:
        with _store_io("download source"):
            store.download_concat(spec.source_keys, path)
    except FileNotFoundError as exc:
        raise StageError("upload", "SOURCE_MISSING", "The uploaded file is gone") from exc
    return path


def probe_source(store: MediaStore, spec: JobSpec) -> SourceInfo:
    with _scratch() as tmp:
        return probe.probe_file(_fetch_source(store, spec, tmp), timeout_s=spec.task_timeout_s)


def split_source(store: MediaStore, spec: JobSpec, source: SourceInfo) -> list[Chunk]:
    """Cut the source's video at keyframes into ~chunk_seconds pieces (stream copy, so cuts
    fall on the source's own keyframes) and store them under the work prefix."""
    with _scratch() as tmp:
        path = _fetch_source(store, spec, tmp)
        listing = tmp / "chunks.csv"
        with _tool_errors("encoding", "ENCODE_FAILED", "ENCODE_TIMEOUT", "split"):
            run(
                ffmpeg_argv(
                    "-i",
                    str(path),
                    "-map",
                    "0:v:0",
                    "-c",
                    "copy",
                    "-f",
                    "segment",
                    "-segment_time",
                    f"{spec.chunk_seconds:g}",
                    "-reset_timestamps",
                    "1",
                    "-segment_list",
                    str(listing),
                    "-segment_list_type",
                    "csv",
                    str(tmp / f"chunk%05d{CHUNK_SUFFIX}"),
                ),
                timeout_s=whole_source_timeout(spec, source),
            )
        chunks = []
        with listing.open(newline="") as rows:
            for index, (name, start, end) in enumerate(csv.reader(rows)):
                key = chunk_key(spec, index)
                file = tmp / name
                with _store_io("upload chunk"):
                    store.upload(file, key)
                chunks.append(
                    Chunk(
                        index=index,
                        key=key,
                        start_s=float(start),
                        duration_s=float(end) - float(start),
                    )
                )
    if not chunks:
        raise StageError("encoding", "ENCODE_FAILED", "The source split into no chunks")
    return chunks


def encode_chunk(store: MediaStore, spec: JobSpec, chunk: Chunk, rungs: list[Rung]) -> list[str]:
    """Encode one source chunk to a group of rungs (one decode); returns the encoded keys."""
    with _scratch() as tmp:
        source = tmp / f"in{CHUNK_SUFFIX}"
        outputs = {rung: tmp / f"out-{rung.name}.mp4" for rung in rungs}
        with _store_io("download chunk"):
            store.download(chunk.key, source)
        what = f"chunk {chunk.index} at {', '.join(rung.name for rung in rungs)}"
        with _tool_errors("encoding", "ENCODE_FAILED", "ENCODE_TIMEOUT", what):
            encoding.encode_rungs(
                source, outputs, timeout_s=spec.task_timeout_s, start_s=chunk.start_s
            )
        keys = []
        for rung, out in outputs.items():
            key = encoded_key(spec, rung, chunk.index)
            with _store_io("upload encoded chunk"):
                store.upload(out, key)
            keys.append(key)
    return keys


def encode_audio_track(store: MediaStore, spec: JobSpec, source: SourceInfo) -> str:
    """The whole source's audio as AAC (audio is cheap; chunking it would risk clicks at the
    joins). Returns its key."""
    with _scratch() as tmp:
        path, out = _fetch_source(store, spec, tmp), tmp / "audio.mp4"
        with _tool_errors("encoding", "ENCODE_FAILED", "ENCODE_TIMEOUT", "audio"):
            encoding.encode_audio(path, out, timeout_s=whole_source_timeout(spec, source))
        key = audio_key(spec)
        with _store_io("upload audio"):
            store.upload(out, key)
    return key


def package_renditions(
    store: MediaStore, spec: JobSpec, source: SourceInfo, rungs: list[Rung], chunk_count: int
) -> None:
    """Join each rung's encoded chunks, package everything (DASH + HLS, CENC) and upload the
    result under ``spec.out_prefix`` — after clearing what an earlier attempt left there."""
    timeout_s = whole_source_timeout(spec, source)
    with _scratch() as tmp:
        videos = {}
        for rung in rungs:
            parts = []
            for index in range(chunk_count):
                part = tmp / f"{rung.name}-{index:05d}.mp4"
                key = encoded_key(spec, rung, index)
                with _store_io("download chunk"):
                    store.download(key, part)
                parts.append(part)
            joined = tmp / f"{rung.name}.mp4"
            with _tool_errors("encoding", "PACKAGE_FAILED", "ENCODE_TIMEOUT", f"join {rung.name}"):
                encoding.concat(parts, joined, timeout_s=timeout_s)
            for part in parts:
                part.unlink()  # keep the scratch disk to about one copy of the renditions
            videos[rung.height] = joined
        renditions = packaging.Renditions(videos=videos)
        if source.has_audio:
            renditions.audio = tmp / "audio.mp4"
            with _store_io("download"):
                store.download(audio_key(spec), tmp / "audio.mp4")
        if (subtitles := spec.subtitles_key) is not None:
            renditions.subtitles = tmp / "subtitles.vtt"
            with _store_io("download"):
                store.download(subtitles, tmp / "subtitles.vtt")
        out = tmp / "out"
        with _tool_errors("encoding", "PACKAGE_FAILED", "ENCODE_TIMEOUT", "package"):
            packaging.package(renditions, out, spec.key_id, spec.key, timeout_s=timeout_s)
        _replace_prefix(store, out, spec.out_prefix, "encoding")


def make_thumbnails(store: MediaStore, spec: JobSpec, source: SourceInfo) -> None:
    """Poster, background and the preview tile track (added to the stored manifest.mpd)."""
    mpd_key = spec.out_prefix + packaging.MPD_NAME
    with _scratch() as tmp:
        path = _fetch_source(store, spec, tmp)
        out = tmp / "out"
        out.mkdir()
        what = "thumbnails"
        with _tool_errors("thumbnail_generation", "THUMBNAIL_FAILED", "THUMBNAIL_FAILED", what):
            thumbnails.stills(path, source, out, timeout_s=spec.task_timeout_s)
            track = thumbnails.tiles(
                path, source, out, timeout_s=whole_source_timeout(spec, source)
            )
        mpd_file = tmp / packaging.MPD_NAME
        try:
            with _store_io("download manifest"):
                store.download(mpd_key, mpd_file)
        except FileNotFoundError as exc:
            raise StageError(
                "thumbnail_generation", "THUMBNAIL_FAILED", "The encoded manifest is missing"
            ) from exc
        (out / packaging.MPD_NAME).write_text(
            thumbnails.with_tile_track(mpd_file.read_text(), track)
        )
        # Images first, the manifest that points at them last.
        for file in sorted(out.rglob("*"), key=lambda p: p.name == packaging.MPD_NAME):
            if file.is_file():
                key = spec.out_prefix + file.relative_to(out).as_posix()
                with _store_io("upload"):
                    store.upload(file, key)


def _replace_prefix(store: MediaStore, folder: Path, prefix: str, stage: Stage) -> None:
    """Make ``prefix`` hold exactly the files of ``folder``: a re-run must not inherit stale
    segments from an earlier attempt (a shorter re-encode would otherwise keep extra ones)."""
    try:
        store.delete_prefix_sync(prefix)
        store.upload_tree(folder, prefix)
    except Exception as exc:
        raise StageError(stage, "STORE_WRITE_FAILED", f"{prefix}: {exc}", transient=True) from exc


def clear_work(store: MediaStore, spec: JobSpec) -> None:
    store.delete_prefix_sync(spec.work_prefix)
