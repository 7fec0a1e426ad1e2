"""MediaStore on a local folder: streaming puts, the byte cap, listing, deletion, pickling."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from media.store import MediaStore, TooLarge

MIB = 1024 * 1024


async def _chunks(count: int, size: int = MIB, fail_at: int | None = None) -> AsyncIterator[bytes]:
    for index in range(count):
        if index == fail_at:
            raise ConnectionResetError("client went away")
        yield bytes([index % 256]) * size


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore.from_url(f"file://{tmp_path}/store")


async def test_put_stream_round_trip(store: MediaStore) -> None:
    written = await store.put_stream("up/a.bin", _chunks(20))  # > several multipart parts
    assert written == 20 * MIB
    assert await store.size("up/a.bin") == 20 * MIB
    assert await store.get_range("up/a.bin", MIB - 1, MIB + 1) == b"\x00\x01"
    streamed = b"".join([chunk async for chunk in store.stream("up/a.bin")])
    assert streamed == await store.get("up/a.bin")
    path = store.local_path("up/a.bin")
    assert path is not None and path.stat().st_size == 20 * MIB


async def test_cap_raises_and_keeps_nothing(store: MediaStore) -> None:
    await store.put("up/a.bin", b"old")
    with pytest.raises(TooLarge):
        await store.put_stream("up/a.bin", _chunks(12), max_bytes=10 * MIB)
    assert await store.size("up/a.bin") is None
    assert await store.list("up/") == []


async def test_failed_source_keeps_nothing(store: MediaStore) -> None:
    with pytest.raises(ConnectionResetError):
        await store.put_stream("up/b.bin", _chunks(12, fail_at=9))
    assert await store.size("up/b.bin") is None


async def test_list_and_delete_prefix(store: MediaStore) -> None:
    for key in ("assets/a1/v1/x.m4s", "assets/a1/v1/v240/1.m4s", "assets/a10/v1/x.m4s"):
        await store.put(key, b"x")
    # Prefixes match whole path segments: a1 does not catch a10.
    assert await store.list("assets/a1/") == ["assets/a1/v1/v240/1.m4s", "assets/a1/v1/x.m4s"]
    assert await store.delete_prefix("assets/a1/") == 2
    assert await store.list("assets/") == ["assets/a10/v1/x.m4s"]
    with pytest.raises(ValueError):
        await store.delete_prefix("/")


def test_sync_helpers(store: MediaStore, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"hello ")
    store.upload(source, "parts/0")
    source.write_bytes(b"world")
    store.upload(source, "parts/1")
    joined = tmp_path / "joined.bin"
    store.download_concat(["parts/0", "parts/1"], joined)
    assert joined.read_bytes() == b"hello world"
    assert store.exists("parts/1") and not store.exists("parts/2")
    assert store.local_path("../escape") is None


async def test_pickles_without_the_client(store: MediaStore) -> None:
    await store.put("k", b"v")  # builds the obstore client
    copy = pickle.loads(pickle.dumps(store))
    assert copy.url == store.url
    assert await copy.get("k") == b"v"


def test_remote_url_has_no_local_path() -> None:
    assert MediaStore.from_url("s3://bucket/media").local_path("k") is None
