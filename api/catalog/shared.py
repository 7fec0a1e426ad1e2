"""The catalog snapshot that replicas share through the media store: one MongoDB scan, not N.

Scanning ``titles`` is most of a replica's start-up (100,000 titles: ~11 s of the embedded
MongoDB alone, and two replicas scanning at once took over 2 minutes), and every replica reads
the same documents. So the first replica that needs a load takes a short Redis lock, scans
MongoDB once and publishes the titles as one compressed object; every other replica, and every
restart, reads that object and follows the change stream from the position it is valid from.

The object is msgpack of chunks of titles (each chunk msgpack of ``list[Title]``), compressed
with zstd. Chunks keep each decode call short: msgspec holds the GIL while it decodes, and a
replica that reloads keeps serving from its event loop meanwhile. A small pointer object names
the current data object and its stream position, so waiting replicas poll a few bytes, and a
data object is replaced by writing a new key and then the pointer (each put is atomic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import msgspec
import zstandard
from redis.asyncio import Redis

from api.catalog.models import Title
from core.tasks import cancel_and_wait

log = logging.getLogger("api.catalog")

FORMAT = 1  # bump when the object's layout or Title's fields change incompatibly
# Titles per chunk: ~2,000 titles decode in ~20 ms here, short enough not to stall a loop.
CHUNK_TITLES = 2000
# zstd level 3 (its default): 100k titles (~190 MB of msgpack) compress ~8x in ~1 s here;
# higher levels cost seconds for a few percent.
ZSTD_LEVEL = 3
# The lock is a lease renewed while the scan runs: a holder that died frees it within this.
LOCK_TTL_S = 30.0

_encode = msgspec.msgpack.Encoder().encode
_chunk_decoder = msgspec.msgpack.Decoder(list[Title])


class ObjectStore(Protocol):
    """What this needs of the media store (``media.store.MediaStore`` is one)."""

    async def get(self, key: str) -> bytes: ...

    async def put(self, key: str, data: bytes) -> None: ...

    async def delete(self, key: str) -> None: ...


class Pointer(msgspec.Struct, frozen=True, kw_only=True):
    """Names the current data object and the change-stream entry it is valid from."""

    format: int
    key: str
    cursor: str  # every change after this stream entry is not in the object
    titles: int
    written_at: float


class _Body(msgspec.Struct, frozen=True, kw_only=True):
    format: int
    cursor: str
    chunks: list[bytes]


_pointer_decoder = msgspec.json.Decoder(Pointer)
_body_decoder = msgspec.msgpack.Decoder(_Body)


def stream_position(entry_id: str) -> tuple[int, int]:
    """A Redis stream id (``"1712000000000-3"``) as a comparable pair."""
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def encode(titles: Sequence[Title], cursor: str) -> bytes:
    """The data object's bytes (CPU-bound: call it in a thread)."""
    chunks = [
        _encode(titles[start : start + CHUNK_TITLES])
        for start in range(0, len(titles), CHUNK_TITLES)
    ]
    body = _encode(_Body(format=FORMAT, cursor=cursor, chunks=chunks))
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)


def decode(blob: bytes) -> tuple[str, list[Title]]:
    """``(cursor, titles)`` from a data object (CPU-bound: call it in a thread).

    Raises ``ValueError`` for an unreadable object."""
    try:
        raw = zstandard.ZstdDecompressor().decompress(blob)
    except zstandard.ZstdError as exc:
        raise ValueError(f"shared catalog does not decompress: {exc}") from exc
    body = _body_decoder.decode(raw)  # msgspec.DecodeError is a ValueError
    if body.format != FORMAT:
        raise ValueError(f"shared catalog format {body.format}, expected {FORMAT}")
    titles: list[Title] = []
    for chunk in body.chunks:
        titles.extend(_chunk_decoder.decode(chunk))
    return body.cursor, titles


# Compare-and-delete / compare-and-extend: only the holder that set the token touches the lock.
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"


class SharedCatalog:
    """The shared snapshot in an object store, and the lock that elects who scans MongoDB."""

    def __init__(
        self,
        store: ObjectStore,
        redis: Redis,
        *,
        prefix: str = "catalog/",
        lock_key: str = "catalog:snapshot:lock",
        lock_ttl_s: float = LOCK_TTL_S,
    ) -> None:
        self._store = store
        self._redis = redis
        self._prefix = prefix
        self._lock_key = lock_key
        self._lock_ttl_ms = int(lock_ttl_s * 1000)

    @property
    def pointer_key(self) -> str:
        return f"{self._prefix}snapshot.json"

    async def pointer(self) -> Pointer | None:
        """The current object's pointer; None when there is none or it is unreadable/foreign."""
        try:
            pointer = _pointer_decoder.decode(await self._store.get(self.pointer_key))
        except FileNotFoundError:
            return None
        except msgspec.DecodeError:
            log.error("catalog: shared snapshot pointer %s unreadable; ignored", self.pointer_key)
            return None
        return pointer if pointer.format == FORMAT else None

    async def read(self, pointer: Pointer) -> list[Title]:
        """The titles ``pointer`` names. ``FileNotFoundError`` when a newer object replaced it
        meanwhile; ``ValueError`` when it does not decode."""
        blob = await self._store.get(pointer.key)
        cursor, titles = await asyncio.to_thread(decode, blob)
        if cursor != pointer.cursor:
            raise ValueError(f"{pointer.key} holds cursor {cursor}, pointer says {pointer.cursor}")
        return titles

    async def publish(self, titles: Sequence[Title], cursor: str) -> Pointer:
        """Write a new data object, point at it, then delete the one it replaced."""
        previous = await self.pointer()
        blob = await asyncio.to_thread(encode, titles, cursor)
        key = f"{self._prefix}snapshots/{cursor}-{secrets.token_hex(4)}.msgpack.zst"
        await self._store.put(key, blob)
        pointer = Pointer(
            format=FORMAT, key=key, cursor=cursor, titles=len(titles), written_at=time.time()
        )
        await self._store.put(self.pointer_key, msgspec.json.encode(pointer))
        if previous is not None and previous.key != key:
            # A replica reading it right now gets FileNotFoundError and takes the new one.
            await self._store.delete(previous.key)
        log.info("catalog: shared snapshot published: %d titles, %d bytes", len(titles), len(blob))
        return pointer

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[bool]:
        """Try once to become the replica that scans MongoDB; yields whether we hold the lock.

        Held, it is renewed every third of its TTL until the block exits, so a slow scan keeps
        it and a replica that died loses it within ``lock_ttl_s``."""
        token = secrets.token_hex(8)
        held = await self._redis.set(self._lock_key, token, nx=True, px=self._lock_ttl_ms)
        if not held:
            yield False
            return
        renewer = asyncio.get_running_loop().create_task(self._renew(token))
        try:
            yield True
        finally:
            await cancel_and_wait(renewer)
            with contextlib.suppress(Exception):  # it expires on its own anyway
                await self._redis.eval(_RELEASE, 1, self._lock_key, token)

    async def _renew(self, token: str) -> None:
        while True:
            await asyncio.sleep(self._lock_ttl_ms / 3000)
            with contextlib.suppress(Exception):  # a missed renewal is retried next period
                await self._redis.eval(_RENEW, 1, self._lock_key, token, self._lock_ttl_ms)
