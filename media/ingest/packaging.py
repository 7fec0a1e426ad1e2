"""Shaka Packager: encoded renditions → encrypted DASH + HLS in one folder.

Layout (what the media origin and the players expect): ``manifest.mpd``, ``master.m3u8``,
``v{height}/init.mp4`` + ``v{height}/$Number$.m4s`` per video rung, ``audio/…`` likewise, and
``text/…`` for an optional WebVTT track. CENC (AES-CTR) with one raw key, signalled for Clear
Key (CommonSystem pssh); every segment encrypted (no clear lead).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from media.ingest.encoding import SEGMENT_SECONDS
from media.ingest.tools import binary, run

MPD_NAME = "manifest.mpd"
HLS_MASTER_NAME = "master.m3u8"


class Renditions(msgspec.Struct, kw_only=True):
    """Local files to package: ``videos`` maps rung height → MP4."""

    videos: dict[int, Path]
    audio: Path | None = None
    subtitles: Path | None = None  # WebVTT
    language: str = "en"


def _stream_descriptors(renditions: Renditions) -> list[str]:
    streams = [
        f"in={path.resolve()},stream=video,init_segment=v{height}/init.mp4,"
        f"segment_template=v{height}/$Number$.m4s,playlist_name=v{height}.m3u8"
        for height, path in sorted(renditions.videos.items())
    ]
    lang = renditions.language
    if renditions.audio is not None:
        streams.append(
            f"in={renditions.audio.resolve()},stream=audio,init_segment=audio/init.mp4,"
            "segment_template=audio/$Number$.m4s,playlist_name=audio.m3u8,"
            f"hls_group_id=audio,hls_name=English,language={lang}"
        )
    if renditions.subtitles is not None:
        # Text in MP4 (wvtt) segments: the one WebVTT form both DASH and HLS players accept.
        streams.append(
            f"in={renditions.subtitles.resolve()},stream=text,init_segment=text/init.mp4,"
            "segment_template=text/$Number$.m4s,playlist_name=text.m3u8,"
            f"hls_group_id=text,hls_name=English,language={lang},format=mp4"
        )
    return streams


def package(renditions: Renditions, out: Path, key_id: str, key: str, *, timeout_s: float) -> None:
    """Write the packaged, encrypted output under ``out`` (created; URLs inside are relative)."""
    out.mkdir(parents=True, exist_ok=True)
    run(
        [
            binary("packager"),
            *_stream_descriptors(renditions),
            "--enable_raw_key_encryption",
            "--keys",
            f"label=:key_id={key_id}:key={key}",
            "--protection_scheme",
            "cenc",
            "--protection_systems",
            "CommonSystem",
            "--clear_lead",
            "0",
            "--segment_duration",
            str(SEGMENT_SECONDS),
            "--generate_static_live_mpd",
            "--mpd_output",
            MPD_NAME,
            "--hls_master_playlist_output",
            HLS_MASTER_NAME,
        ],
        cwd=out,
        timeout_s=timeout_s,
    )
