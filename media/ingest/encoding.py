"""Encoder settings and the ffmpeg runs built on them: one source of truth for the x264 and AAC
parameters, shared by the ingest pipeline and the demo-pool builder (media/package.py)."""

from __future__ import annotations

from pathlib import Path

from media.ingest.spec import Rung
from media.ingest.tools import ffmpeg_argv, run

# Packaged segment length. Players fetch one segment per request; 4 s is the common trade-off
# between request rate and how fast a bitrate switch or a seek takes effect.
SEGMENT_SECONDS = 4
# A keyframe every 2 s on the source's timeline (plus one at every chunk start, which is an
# IDR anyway): every rung gets the same keyframe times, so the packager cuts segments that line
# up across rungs (seamless switching), and mostly a regular 4 s long.
KEYFRAME_SECONDS = 2
# A grid keyframe closer than this after a chunk start is skipped: a GOP of a few frames costs
# bits and buys nothing.
MIN_GOP_SECONDS = 0.5
# veryfast: about 2-3x the speed of "medium" for ~10 % more bits at equal quality — the usual
# choice for a catalogue encoded on general-purpose cores.
X264_PRESET = "veryfast"
# Capped CRF: constant quality, with the rung's bitrate as a ceiling. Unlike a plain bitrate
# target it does not waste bits on an easy chunk just because the chunk is encoded alone.
X264_CRF = 23
# VBV buffer = this x the peak rate: lets short bursts (a cut, motion) exceed the average
# while keeping a player's buffer model honest.
VBV_BUFFER_FACTOR = 2
# Main profile for the small rungs (the ones the weakest devices pick), High above.
HIGH_PROFILE_FROM_HEIGHT = 720
# Frames per second above this are dropped: no player ladder needs more.
MAX_FPS = 60
AUDIO_KBPS = 128
AUDIO_SAMPLE_RATE = 48000
AUDIO_CHANNELS = 2


def keyframe_expr(start_s: float) -> str:
    """ffmpeg -force_key_frames expression for a piece starting ``start_s`` into the source:
    a keyframe at the piece's first frame, then on the source's KEYFRAME_SECONDS grid."""
    grid = KEYFRAME_SECONDS
    first = (int(start_s // grid) + 1) * grid - start_s  # next grid point, in (0, grid]
    if first < MIN_GOP_SECONDS:
        first += grid
    # n_forced = 0 → threshold below zero: the first frame. Then first, first + grid, ...
    return f"expr:gte(t,{first - grid:.6f}+n_forced*{grid})"


def x264_args(rung: Rung, start_s: float = 0.0) -> list[str]:
    """Output options for one H.264 rendition of a piece starting ``start_s`` into the source:
    single-threaded (one Ray task = one core), keyframes on a fixed grid, no scene-cut
    keyframes that would differ between rungs."""
    profile = "high" if rung.height >= HIGH_PROFILE_FROM_HEIGHT else "main"
    return [
        "-c:v",
        "libx264",
        "-preset",
        X264_PRESET,
        "-profile:v",
        profile,
        "-pix_fmt",
        "yuv420p",
        "-threads",
        "1",
        "-x264-params",
        "threads=1",
        "-crf",
        str(X264_CRF),
        "-maxrate",
        f"{rung.video_kbps}k",
        "-bufsize",
        f"{rung.video_kbps * VBV_BUFFER_FACTOR}k",
        "-force_key_frames",
        keyframe_expr(start_s),
        "-sc_threshold",
        "0",
        "-fpsmax",
        str(MAX_FPS),
    ]


def scale_filter(rung: Rung) -> str:
    # setsar=1: the ladder's width already carries the display aspect ratio.
    return f"scale={rung.width}:{rung.height}:flags=bicubic,setsar=1,format=yuv420p"


def aac_args() -> list[str]:
    return [
        "-c:a",
        "aac",
        "-b:a",
        f"{AUDIO_KBPS}k",
        "-ar",
        str(AUDIO_SAMPLE_RATE),
        "-ac",
        str(AUDIO_CHANNELS),
    ]


def encode_video(
    source: Path, out: Path, rung: Rung, *, timeout_s: float, start_s: float = 0.0
) -> None:
    """Encode the first video stream of ``source`` (a chunk starting ``start_s`` into the
    film, or a whole short clip) to one rung, as an MP4 without audio."""
    encode_rungs(source, {rung: out}, timeout_s=timeout_s, start_s=start_s)


def encode_rungs(
    source: Path, outputs: dict[Rung, Path], *, timeout_s: float, start_s: float = 0.0
) -> None:
    """Encode ``source``'s first video stream to several rungs from ONE decode: a split filter
    feeds one scaler and one x264 per rung. Decoding a 1080p source costs about as much as
    encoding its 480p rung, so decoding once per rung instead wasted ~25 % of a job's CPU
    (measured: docs/encode-benchmark.md). Decoding, filtering and each x264 are
    single-threaded: one Ray task holds one core."""
    rungs = list(outputs)
    labels = [f"v{index}" for index in range(len(rungs))]
    graph = f"[0:v:0]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs))) + ";"
    graph += ";".join(
        f"[s{i}]{scale_filter(rung)}[{label}]"
        for i, (rung, label) in enumerate(zip(rungs, labels, strict=True))
    )
    argv = ["-threads", "1", "-i", str(source), "-filter_threads", "1",
            "-filter_complex_threads", "1", "-filter_complex", graph]  # fmt: skip
    for rung, label in zip(rungs, labels, strict=True):
        argv += ["-map", f"[{label}]", "-an", "-sn", "-dn", *x264_args(rung, start_s),
                 str(outputs[rung])]  # fmt: skip
    run(ffmpeg_argv(*argv), timeout_s=timeout_s)


# With at least this many chunks per CPU of the cluster, chunks alone keep every core busy.
CHUNKS_PER_CPU_FOR_ONE_GROUP = 2


def task_groups(rungs: list[Rung], chunks: int, cpus: float) -> list[list[Rung]]:
    """How one job's rungs are spread over encode tasks (one task per chunk and group). With
    plenty of chunks per CPU every chunk is ONE task holding every rung: one decode of the
    source in all, like a plain ffmpeg (splitting the top rung off cost the 60 s benchmark a
    second decode, ~7 % of its CPU). With few chunks (a short clip on a big cluster)
    ``rung_groups`` splits the ladder so the chunks still spread over the cores."""
    if chunks >= CHUNKS_PER_CPU_FOR_ONE_GROUP * max(cpus, 1.0):
        return [sorted(rungs, key=lambda rung: rung.width * rung.height, reverse=True)]
    return rung_groups(rungs)


def rung_groups(rungs: list[Rung]) -> list[list[Rung]]:
    """The rungs split into groups that each cost about as much as the largest rung alone
    (cost ~ pixels per frame): one Ray task per chunk and group. Fewer groups decode less; equal
    groups keep a small cluster's cores evenly busy. A 1080p ladder becomes [1080p] and
    [720p, 480p, 360p, 240p]."""
    ordered = sorted(rungs, key=lambda rung: rung.width * rung.height, reverse=True)
    if not ordered:
        return []
    budget = ordered[0].width * ordered[0].height
    groups: list[list[Rung]] = []
    load: list[int] = []
    for rung in ordered:
        pixels = rung.width * rung.height
        for index, used in enumerate(load):
            if used + pixels <= budget:
                groups[index].append(rung)
                load[index] += pixels
                break
        else:
            groups.append([rung])
            load.append(pixels)
    return groups


def encode_audio(source: Path, out: Path, *, timeout_s: float) -> None:
    """The first audio stream of ``source`` as stereo AAC in an MP4."""
    run(
        ffmpeg_argv("-i", str(source), "-map", "0:a:0", "-vn", "-sn", "-dn", *aac_args(), str(out)),
        timeout_s=timeout_s,
    )


def concat(parts: list[Path], out: Path, *, timeout_s: float) -> None:
    """Join encoded chunks of one rung into one MP4 without re-encoding (concat demuxer)."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{part.resolve()}'\n" for part in parts))
    run(
        ffmpeg_argv(
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            str(out),
        ),
        timeout_s=timeout_s,
    )
