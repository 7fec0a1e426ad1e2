"""The ingest stages end to end on a local Ray and a local store, with a 10 s test clip."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
from pathlib import Path

import msgspec
import pytest

from media.ingest import (
    DEFAULT_LADDER,
    JobSpec,
    SourceInfo,
    StageError,
    current_prefix,
    current_prefix_async,
    delete_asset,
    distribute,
    encode,
    encoding,
    ladder_for,
    probe,
    thumbnails,
)
from media.ingest.publish import pointer_key
from media.ingest.tools import binary
from media.store import MediaStore

pytestmark = pytest.mark.usefixtures("ray_local")

SUBTITLES = b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\n"
# Generous per-task deadline for a 4 s chunk on a busy 2-core CI box.
TASK_TIMEOUT_S = 60.0


def _spec(asset_id: str, source_keys: list[str], version: str = "v1", **extra: object) -> JobSpec:
    fields: dict[str, object] = {
        "asset_id": asset_id,
        "source_keys": source_keys,
        "out_prefix": f"assets/{asset_id}/{version}/",
        "key_id": secrets.token_hex(16),
        "key": secrets.token_hex(16),
        "rungs": list(DEFAULT_LADDER),
        "task_timeout_s": TASK_TIMEOUT_S,
        **extra,
    }
    return msgspec.convert(fields, JobSpec)


async def _upload_in_parts(store: MediaStore, path: Path, prefix: str, parts: int) -> list[str]:
    """Store ``path`` as ``parts`` objects, like a resumable upload."""
    data = await asyncio.to_thread(path.read_bytes)
    step = -(-len(data) // parts)
    keys = []
    for index in range(parts):
        key = f"{prefix}part{index:03d}"
        await store.put(key, data[index * step : (index + 1) * step])
        keys.append(key)
    return keys


def _source(width: int, height: int) -> SourceInfo:
    return SourceInfo(
        container="mov",
        duration_s=10,
        width=width,
        height=height,
        fps=24,
        video_codec="h264",
        has_audio=False,
    )


def test_ladder_never_upscales_and_keeps_aspect() -> None:
    rungs = ladder_for(_source(640, 360), DEFAULT_LADDER)
    assert [(r.width, r.height) for r in rungs] == [(426, 240), (640, 360)]
    wide = ladder_for(_source(1920, 800), DEFAULT_LADDER)  # 2.4:1, between 720p and 1080p
    assert [r.height for r in wide] == [240, 360, 480, 720]
    assert all(r.width % 2 == 0 and abs(r.width / r.height - 2.4) < 0.02 for r in wide)
    tiny = ladder_for(_source(201, 113), DEFAULT_LADDER)
    assert [(r.width, r.height) for r in tiny] == [(200, 112)]
    assert tiny[0].video_kbps < DEFAULT_LADDER[0].video_kbps


async def test_probe_reads_the_clip(store: MediaStore, clip: Path) -> None:
    keys = await _upload_in_parts(store, clip, "uploads/probe/", parts=3)
    info = await probe(store, _spec("probe", keys))
    assert (info.width, info.height) == (640, 360)
    assert info.video_codec == "h264" and info.has_audio and info.audio_codec == "aac"
    assert info.duration_s == pytest.approx(10, abs=0.2)
    assert info.fps == pytest.approx(24)


async def test_probe_refuses_garbage(store: MediaStore) -> None:
    await store.put("uploads/garbage/part000", secrets.token_bytes(64 * 1024))
    with pytest.raises(StageError) as caught:
        await probe(store, _spec("garbage", ["uploads/garbage/part000"]))
    assert caught.value.stage == "upload" and caught.value.code == "UNSUPPORTED_MEDIA"
    assert not caught.value.transient


def _decodes(media: Path, key: str | None) -> bool:
    """Whether ffmpeg decodes every frame of ``media`` cleanly (with ``key`` if given)."""
    argv = [binary("ffmpeg"), "-nostdin", "-v", "error", "-xerror"]
    argv += ["-decryption_key", key] if key else []
    argv += ["-i", str(media), "-f", "null", "-"]
    done = subprocess.run(argv, capture_output=True, timeout=60)
    return done.returncode == 0 and not done.stderr.strip()


async def test_encode_thumbnails_distribute(store: MediaStore, clip: Path) -> None:
    asset = "film1"
    keys = await _upload_in_parts(store, clip, f"uploads/{asset}/", parts=2)
    await store.put(f"uploads/{asset}/subs.vtt", SUBTITLES)
    spec = _spec(asset, keys, version="v2", subtitles_key=f"uploads/{asset}/subs.vtt")
    await store.put(f"assets/{asset}/v1/manifest.mpd", b"an older version")
    source = await probe(store, spec)

    reported: list[float] = []
    await encode(store, spec, source, reported.append)
    assert reported == sorted(reported) and reported[-1] == 1.0 and len(reported) > 3
    assert await store.list(spec.work_prefix) == []
    await thumbnails(store, spec, source)
    await thumbnails(store, spec, source)  # a re-run replaces, never duplicates

    # A version missing a referenced file is never published.
    segment = spec.out_prefix + "v240/2.m4s"
    kept = await store.get(segment)
    await store.delete(segment)
    with pytest.raises(StageError) as caught:
        await distribute(store, spec, asset)
    assert caught.value.stage == "cdn_distribution" and caught.value.code == "MISSING_FILES"
    assert current_prefix(store, asset) is None
    await store.put(segment, kept)
    await distribute(store, spec, asset)

    mpd = (await store.get(spec.out_prefix + "manifest.mpd")).decode()
    heights = re.findall(r'<Representation[^>]*mimeType="video/mp4"[^>]*height="(\d+)"', mpd)
    heights += re.findall(r'<Representation[^>]*height="(\d+)"[^>]*mimeType="video/mp4"', mpd)
    assert sorted(map(int, heights)) == [240, 360]
    assert mpd.count('schemeIdUri="http://dashif.org/thumbnail_tile"') == 1
    assert 'contentType="text"' in mpd
    assert await store.size(spec.out_prefix + "master.m3u8")
    assert await store.size(spec.out_prefix + "poster.jpg")
    assert await store.size(spec.out_prefix + "background.jpg")
    assert await store.size(spec.out_prefix + "thumbs/tile_1.jpg")
    # Published: the pointer names the new version, the old version is gone.
    assert current_prefix(store, asset) == spec.out_prefix
    assert await current_prefix_async(store, asset) == spec.out_prefix
    assert await store.list(f"assets/{asset}/v1/") == []

    # A segment decrypts with the key and only with it.
    folder = store.local_path(spec.out_prefix + "v360")
    assert folder is not None
    sample = folder.parent / "sample.mp4"
    sample.write_bytes((folder / "init.mp4").read_bytes() + (folder / "1.m4s").read_bytes())
    assert _decodes(sample, spec.key)
    assert not _decodes(sample, None)
    assert not _decodes(sample, secrets.token_hex(16))

    await delete_asset(store, asset)
    assert await store.list(f"assets/{asset}/") == []
    assert await store.size(pointer_key(asset)) is None
    assert current_prefix(store, asset) is None


async def test_hung_chunk_encode_times_out(store: MediaStore, clip: Path) -> None:
    asset = "slow"
    keys = await _upload_in_parts(store, clip, f"uploads/{asset}/", parts=1)
    source = await probe(store, _spec(asset, keys))
    # Far below what a chunk encode takes: the ffmpeg run must be killed, not waited for.
    spec = _spec(asset, keys, task_timeout_s=0.05)
    with pytest.raises(StageError) as caught:
        await encode(store, spec, source, lambda fraction: None)
    assert caught.value.stage == "encoding" and caught.value.code == "ENCODE_TIMEOUT"
    assert caught.value.transient
    assert await store.list(spec.work_prefix) == []
    assert await store.list(spec.out_prefix) == []


def test_rung_groups_balance_by_pixels_and_decode_once_per_group() -> None:
    groups = encoding.rung_groups(list(DEFAULT_LADDER))
    assert [[rung.name for rung in group] for group in groups] == [
        ["1080p"],
        ["720p", "480p", "360p", "240p"],
    ]
    small = ladder_for(_source(640, 360), DEFAULT_LADDER)
    assert sum(len(group) for group in encoding.rung_groups(small)) == len(small)


def test_task_groups_decode_each_chunk_once_when_chunks_fill_the_cores() -> None:
    ladder = list(DEFAULT_LADDER)
    one_task_per_chunk = encoding.task_groups(ladder, chunks=15, cpus=2)
    assert [[rung.name for rung in group] for group in one_task_per_chunk] == [
        ["1080p", "720p", "480p", "360p", "240p"]
    ]
    # A short clip on a big cluster: too few chunks to fill the cores, so the ladder splits.
    assert encoding.task_groups(ladder, chunks=3, cpus=8) == encoding.rung_groups(ladder)
