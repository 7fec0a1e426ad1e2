"""Still images of an asset: the catalogue's poster and background, and the seek-bar preview
tiles (a DASH image track, the DASH-IF "thumbnail_tile" form Shaka Player reads)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from media.ingest.spec import SourceInfo
from media.ingest.tools import ffmpeg_argv, run

POSTER_NAME = "poster.jpg"
BACKGROUND_NAME = "background.jpg"
# Portrait 2:3, the catalogue card's shape.
POSTER_SIZE = (600, 900)
# 16:9 hero image; never larger than the source (no upscaling).
BACKGROUND_MAX_HEIGHT = 720
# Where in the film the stills come from: past opening logos and titles, before the plot.
POSTER_AT = 0.15
BACKGROUND_AT = 0.35
# ffmpeg's JPEG quality scale (2 best … 31 worst): 3 is visually clean at a third of q=2's size.
JPEG_QUALITY = 3
# Preview tiles: one small frame every TILE_INTERVAL_S, TILE_GRID frames per JPEG, so a
# seek-bar preview costs one request per ~2 minutes of film.
TILE_INTERVAL_S = 5
TILE_GRID = (5, 5)
TILE_FRAME_WIDTH = 160
TILE_QUALITY = 5  # tiny frames: quality matters less than bytes
TILES_DIR = "thumbs"
TILE_ADAPTATION_SET_ID = 1000  # far above Shaka Packager's ids, and marks our element
_TILE_SET = re.compile(
    rf'\s*<AdaptationSet id="{TILE_ADAPTATION_SET_ID}".*?</AdaptationSet>', re.DOTALL
)


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _still(source: Path, at_s: float, size: tuple[int, int], out: Path, timeout_s: float) -> None:
    width, height = size
    # Scale until the frame covers the box, then crop the middle: a filled box, no bars.
    fit = (
        f"scale={width}:{height}:force_original_aspect_ratio=increase,"
        f"crop={width}:{height},setsar=1"
    )
    run(
        ffmpeg_argv(
            "-ss",
            f"{at_s:.3f}",
            "-i",
            str(source),
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-vf",
            fit,
            "-q:v",
            str(JPEG_QUALITY),
            str(out),
        ),
        timeout_s=timeout_s,
    )


def background_size(source: SourceInfo) -> tuple[int, int]:
    height = _even(min(BACKGROUND_MAX_HEIGHT, source.height, source.width * 9 / 16))
    return _even(height * 16 / 9), height


def stills(source_path: Path, source: SourceInfo, out: Path, *, timeout_s: float) -> None:
    """Write ``poster.jpg`` and ``background.jpg`` into ``out``."""
    _still(source_path, source.duration_s * POSTER_AT, POSTER_SIZE, out / POSTER_NAME, timeout_s)
    _still(
        source_path,
        source.duration_s * BACKGROUND_AT,
        background_size(source),
        out / BACKGROUND_NAME,
        timeout_s,
    )


class TileTrack:
    """The tile images written and what the MPD needs to describe them."""

    def __init__(self, count: int, frame_size: tuple[int, int], total_bytes: int) -> None:
        self.count = count
        self.frame_width, self.frame_height = frame_size
        self.total_bytes = total_bytes

    @property
    def seconds_per_tile(self) -> int:
        return TILE_INTERVAL_S * TILE_GRID[0] * TILE_GRID[1]

    def adaptation_set(self) -> str:
        columns, rows = TILE_GRID
        bandwidth = max(1, math.ceil(self.total_bytes * 8 / (self.count * self.seconds_per_tile)))
        return (
            f'\n    <AdaptationSet id="{TILE_ADAPTATION_SET_ID}" contentType="image" '
            'mimeType="image/jpeg">\n'
            f'      <SegmentTemplate media="{TILES_DIR}/tile_$Number$.jpg" timescale="1" '
            f'duration="{self.seconds_per_tile}" startNumber="1"/>\n'
            f'      <Representation id="thumbnails" bandwidth="{bandwidth}" '
            f'width="{self.frame_width * columns}" height="{self.frame_height * rows}">\n'
            '        <EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" '
            f'value="{columns}x{rows}"/>\n'
            "      </Representation>\n"
            "    </AdaptationSet>"
        )


def tiles(source_path: Path, source: SourceInfo, out: Path, *, timeout_s: float) -> TileTrack:
    """Write ``thumbs/tile_1.jpg`` … (each a grid of preview frames) into ``out``."""
    frame = (TILE_FRAME_WIDTH, _even(TILE_FRAME_WIDTH * source.height / source.width))
    folder = out / TILES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    columns, rows = TILE_GRID
    run(
        ffmpeg_argv(
            "-i",
            str(source_path),
            "-map",
            "0:v:0",
            "-vf",
            f"fps=1/{TILE_INTERVAL_S},scale={frame[0]}:{frame[1]},setsar=1,tile={columns}x{rows}",
            "-q:v",
            str(TILE_QUALITY),
            "-start_number",
            "1",
            str(folder / "tile_%d.jpg"),
        ),
        timeout_s=timeout_s,
    )
    images = sorted(folder.glob("tile_*.jpg"))
    return TileTrack(len(images), frame, sum(image.stat().st_size for image in images))


def with_tile_track(mpd: str, track: TileTrack) -> str:
    """``mpd`` with the tile AdaptationSet as the Period's last child (replacing a previous
    one, so running the stage twice gives the same manifest)."""
    mpd = _TILE_SET.sub("", mpd)
    head, sep, tail = mpd.rpartition("</Period>")
    if not sep:
        raise ValueError("manifest has no Period")
    return f"{head.rstrip()}{track.adaptation_set()}\n  {sep}{tail}"
