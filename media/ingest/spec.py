"""What an ingest job is made of: the rendition ladder, the probed source, the job, its errors."""

from __future__ import annotations

import math
from typing import Literal

import msgspec

Stage = Literal["upload", "encoding", "thumbnail_generation", "cdn_distribution"]


class Rung(msgspec.Struct, frozen=True, kw_only=True):
    """One rendition of the ladder. ``video_kbps`` is the peak the encoder may spend."""

    name: str
    width: int
    height: int
    video_kbps: int


# 16:9 ladder; bitrates are H.264 peaks in the range the big streaming ladders use for
# ordinary (not sports) content at these sizes with a veryfast preset.
DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung(name="240p", width=426, height=240, video_kbps=400),
    Rung(name="360p", width=640, height=360, video_kbps=800),
    Rung(name="480p", width=854, height=480, video_kbps=1400),
    Rung(name="720p", width=1280, height=720, video_kbps=2800),
    Rung(name="1080p", width=1920, height=1080, video_kbps=5000),
)


class SourceInfo(msgspec.Struct, frozen=True, kw_only=True):
    container: str
    duration_s: float
    width: int  # as displayed (rotation and sample aspect ratio already applied)
    height: int
    fps: float
    video_codec: str
    has_audio: bool
    audio_codec: str | None = None


class JobSpec(msgspec.Struct, frozen=True, kw_only=True):
    asset_id: str
    source_keys: list[str]  # concatenated in order they form the source file
    out_prefix: str  # e.g. "assets/{asset_id}/{version}/", ends with "/"
    key_id: str  # 32 hex digits
    key: str  # 32 hex digits: the CENC content key (Clear Key)
    rungs: list[Rung]
    task_timeout_s: float  # per ffmpeg/packager run; a hung tool fails instead of stalling
    chunk_seconds: float = 4.0
    subtitles_key: str | None = None  # a WebVTT object to package as an English text track

    @property
    def work_prefix(self) -> str:
        """Scratch objects of this job (source chunks, encoded chunks); removed when done."""
        return work_prefix(self.asset_id)


def work_prefix(asset_id: str) -> str:
    return f"work/{asset_id}/"


class StageError(Exception):
    """A stage failed. ``transient`` says whether running the stage again may succeed."""

    def __init__(self, stage: Stage, code: str, message: str, *, transient: bool = False) -> None:
        super().__init__(f"{stage}/{code}: {message}")
        self.stage: Stage = stage
        self.code = code
        self.message = message
        self.transient = transient

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default exception pickling, and this error
        # crosses process boundaries inside Ray task results.
        return (_rebuild_stage_error, (self.stage, self.code, self.message, self.transient))


def _rebuild_stage_error(stage: Stage, code: str, message: str, transient: bool) -> StageError:
    return StageError(stage, code, message, transient=transient)


def _even(value: float) -> int:
    """Nearest even integer ≥ 2: H.264 with 4:2:0 chroma needs even dimensions."""
    return max(2, 2 * round(value / 2))


def ladder_for(source: SourceInfo, rungs: list[Rung] | tuple[Rung, ...]) -> list[Rung]:
    """The rungs worth encoding for ``source``: never upscale, keep its aspect ratio.

    Rungs taller than the source are dropped; each kept rung keeps its height and bitrate and
    gets the width of the source's aspect. A source smaller than every rung gets one rung at
    its own (even) size, with the lowest rung's bitrate scaled down by height."""
    ordered = sorted(rungs, key=lambda rung: rung.height)
    aspect = source.width / source.height
    kept = [
        Rung(
            name=rung.name,
            width=_even(rung.height * aspect),
            height=rung.height,
            video_kbps=rung.video_kbps,
        )
        for rung in ordered
        if rung.height <= source.height
    ]
    if kept:
        return kept
    lowest = ordered[0]
    # Rounded down to even, so not even one pixel of upscaling.
    height, width = max(2, source.height // 2 * 2), max(2, source.width // 2 * 2)
    return [
        Rung(
            name=f"{height}p",
            width=width,
            height=height,
            video_kbps=max(1, math.ceil(lowest.video_kbps * height / lowest.height)),
        )
    ]
