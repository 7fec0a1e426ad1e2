"""ffprobe a source file and decide whether it can be encoded at all.

Refusals are StageError(stage="upload"): the file the admin sent is the problem, and running
the stage again cannot help (``transient=False``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from media.ingest.spec import SourceInfo, StageError
from media.ingest.tools import ToolFailed, ToolTimeout, binary, run

# Sanity bounds. Anything outside is a broken or hostile file, not a film.
MIN_DIMENSION = 16
MAX_DIMENSION = 8192  # 8K; also bounds x264's memory per task
MAX_DURATION_S = 12 * 3600.0
MIN_DURATION_S = 0.1
# Used when the stream advertises no usable frame rate (some VFR sources).
FALLBACK_FPS = 30.0


class _Stream(msgspec.Struct):
    codec_type: str = ""
    codec_name: str = ""
    width: int = 0
    height: int = 0
    avg_frame_rate: str = "0/0"
    r_frame_rate: str = "0/0"
    sample_aspect_ratio: str = "1:1"
    duration: str | None = None
    side_data_list: list[dict[str, Any]] = []
    tags: dict[str, str] = {}
    disposition: dict[str, int] = {}


class _Format(msgspec.Struct):
    format_name: str = ""
    duration: str | None = None


class _Probe(msgspec.Struct):
    streams: list[_Stream] = []
    format: _Format | None = None


def _refuse(code: str, message: str) -> StageError:
    return StageError("upload", code, message, transient=False)


def _rate(text: str) -> float:
    num, _, den = text.partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if value > 0 else 0.0


def _seconds(text: str | None) -> float:
    try:
        return float(text) if text is not None else 0.0
    except ValueError:
        return 0.0


def _rotation(stream: _Stream) -> int:
    for item in stream.side_data_list:
        if "rotation" in item:
            return int(float(item["rotation"]))
    return int(float(stream.tags.get("rotate", "0") or 0))


def probe_file(path: Path, *, timeout_s: float) -> SourceInfo:
    """Probe ``path`` → SourceInfo, or StageError(stage="upload") if it cannot be encoded."""
    argv = [binary("ffprobe"), "-v", "error", "-print_format", "json"]
    argv += ["-show_format", "-show_streams", str(path)]
    try:
        raw = run(argv, timeout_s=timeout_s)
    except ToolFailed as exc:
        raise _refuse("UNSUPPORTED_MEDIA", "The file is not a recognised media file") from exc
    except ToolTimeout as exc:
        raise _refuse("UNSUPPORTED_MEDIA", "The file could not be read in time") from exc
    try:
        probe = msgspec.json.decode(raw, type=_Probe)
    except msgspec.DecodeError as exc:
        raise _refuse("UNSUPPORTED_MEDIA", "The file could not be probed") from exc
    return _source_info(probe)


def _source_info(probe: _Probe) -> SourceInfo:
    # Cover art in audio files shows up as a one-frame "video" stream: not a video.
    videos = [
        s
        for s in probe.streams
        if s.codec_type == "video" and not s.disposition.get("attached_pic")
    ]
    if probe.format is None or not probe.streams:
        raise _refuse("UNSUPPORTED_MEDIA", "The file is not a recognised media file")
    if not videos:
        raise _refuse("NO_VIDEO_STREAM", "The file has no video stream")
    video = videos[0]
    audios = [s for s in probe.streams if s.codec_type == "audio"]
    duration = _seconds(probe.format.duration) or _seconds(video.duration)
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise _refuse("UNSUPPORTED_MEDIA", f"Unusable duration: {duration:g} s")
    # Anamorphic sources store fewer columns than they show: use the displayed width.
    sar = _rate(video.sample_aspect_ratio.replace(":", "/")) or 1.0
    width, height = round(video.width * sar), video.height
    if _rotation(video) % 180:  # players show it turned a quarter: swap the displayed size
        width, height = height, width
    if not (MIN_DIMENSION <= width <= MAX_DIMENSION and MIN_DIMENSION <= height <= MAX_DIMENSION):
        raise _refuse("UNSUPPORTED_MEDIA", f"Unusable picture size: {width}x{height}")
    fps = _rate(video.avg_frame_rate) or _rate(video.r_frame_rate) or FALLBACK_FPS
    return SourceInfo(
        container=probe.format.format_name,
        duration_s=duration,
        width=width,
        height=height,
        fps=fps,
        video_codec=video.codec_name,
        has_audio=bool(audios),
        audio_codec=audios[0].codec_name if audios else None,
    )
