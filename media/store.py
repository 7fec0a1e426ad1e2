"""The media store: every uploaded source, work file and packaged rendition lives here.

One small class over ``obstore``, so the same code writes to a local folder (the default on a
laptop or in CI) and to S3/GCS in production — only the URL changes. Async methods serve the
ingress and the coordinator (they never block an event loop); the sync ones serve Ray tasks,
which work on local temp files.

Objects are written atomically (a reader never sees half an object): obstore stages multipart
uploads and only completes them at the end. A failed streaming put leaves the key absent.
"""

from __future__ import annotations

import builtins
import contextlib
import shutil
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import obstore
from obstore.store import LocalStore, from_url

# Multipart part size: small enough that an upload holds little in memory (parts in flight x
# this), big enough for S3's 5 MiB minimum part size.
PART_BYTES = 8 * 1024 * 1024
# Parts uploaded at once per object. obstore's default (12) would buffer ~100 MB per upload;
# a few parts in flight already saturate one uplink.
PART_CONCURRENCY = 4
# Chunk size when reading an object back as a stream (origin responses, downloads to disk).
READ_CHUNK_BYTES = 1024 * 1024
# Paths per delete request (S3 DeleteObjects takes at most 1000).
DELETE_BATCH = 1000


class TooLarge(Exception):
    """A streamed object exceeded its byte cap; nothing was stored."""

    def __init__(self, key: str, max_bytes: int) -> None:
        super().__init__(f"{key}: more than {max_bytes} bytes")
        self.key = key
        self.max_bytes = max_bytes


def _local_root(url: str) -> Path | None:
    """The folder of a ``file://`` URL or plain absolute path, or None for a remote store."""
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    if url.startswith("/"):
        return Path(url)
    return None


class MediaStore:
    """Objects under keys like ``assets/{asset_id}/{version}/manifest.mpd``.

    Picklable (it is shipped to Ray tasks): only the URL travels, and the obstore client is
    rebuilt lazily on the other side.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._root = _local_root(url)
        self._client: Any = None

    @classmethod
    def from_url(cls, url: str) -> MediaStore:
        return cls(url)

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"MediaStore({self.url!r})"

    @property
    def _store(self) -> Any:
        if self._client is None:
            if self._root is not None:
                # automatic_cleanup: deleting an asset's last file removes its empty folders.
                self._client = LocalStore(self._root, mkdir=True, automatic_cleanup=True)
            else:
                self._client = from_url(self.url)
        return self._client

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` when the store is a local folder (else None), so the media
        origin can serve it with sendfile. Refuses keys that would escape the folder."""
        if self._root is None:
            return None
        root = self._root.resolve()
        path = (root / key).resolve()
        return path if path.is_relative_to(root) else None

    # ---- async (event-loop callers) ------------------------------------------------------

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> int:
        """Stream ``chunks`` into ``key`` (multipart, never the whole object in memory) and
        return the byte count. Over ``max_bytes`` → :class:`TooLarge`. On any failure the key
        is left absent."""
        written = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal written
            async for chunk in chunks:
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    # Raising inside the source aborts obstore's multipart upload.
                    raise TooLarge(key, max_bytes)
                yield chunk

        try:
            await obstore.put_async(
                self._store,
                key,
                counted(),
                chunk_size=PART_BYTES,
                max_concurrency=PART_CONCURRENCY,
            )
        except BaseException:
            # The upload is atomic, but an older object under the same key would survive;
            # callers treat a failed put as "this key holds nothing", so make it true.
            await self._delete_quietly(key)
            raise
        return written

    async def put(self, key: str, data: bytes) -> None:
        await obstore.put_async(self._store, key, data)

    async def get(self, key: str) -> bytes:
        result = await obstore.get_async(self._store, key)
        return bytes(await result.bytes_async())

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``key``."""
        return bytes(await obstore.get_range_async(self._store, key, start=start, end=end))

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        result = await obstore.get_async(self._store, key)
        async for chunk in result.stream(min_chunk_size=READ_CHUNK_BYTES):
            yield bytes(chunk)

    async def size(self, key: str) -> int | None:
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (matched by whole path segments), sorted."""
        keys: builtins.list[str] = []
        async for batch in obstore.list(self._store, prefix=prefix):
            keys.extend(meta["path"] for meta in batch)
        return sorted(keys)

    async def delete(self, key: str) -> None:
        """Delete one object (absent is fine)."""
        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self._store, key)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many."""
        _refuse_root(prefix)
        keys = await self.list(prefix)
        for start in range(0, len(keys), DELETE_BATCH):
            await obstore.delete_async(self._store, keys[start : start + DELETE_BATCH])
        return len(keys)

    async def _delete_quietly(self, key: str) -> None:
        # Already absent, or the store is unreachable: either way nothing more to undo.
        with contextlib.suppress(Exception):
            await obstore.delete_async(self._store, key)

    # ---- sync (Ray tasks, scripts) -------------------------------------------------------

    def download(self, key: str, path: Path) -> None:
        with path.open("wb") as out:
            self._copy_into(key, out)

    def download_concat(self, keys: builtins.list[str], path: Path) -> None:
        """Concatenate ``keys`` in order into one local file (resumable uploads arrive in
        parts), streaming each object."""
        with path.open("wb") as out:
            for key in keys:
                self._copy_into(key, out)

    def upload(self, path: Path, key: str) -> None:
        obstore.put(self._store, key, path, chunk_size=PART_BYTES, max_concurrency=PART_CONCURRENCY)

    def upload_tree(self, folder: Path, prefix: str) -> builtins.list[str]:
        """Upload every file under ``folder`` to ``prefix`` + its relative path; returns keys."""
        keys = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = prefix + path.relative_to(folder).as_posix()
            self.upload(path, key)
            keys.append(key)
        return keys

    def get_sync(self, key: str) -> bytes | None:
        """The whole object, or None when absent (small objects: pointers, manifests)."""
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        try:
            obstore.head(self._store, key)
        except FileNotFoundError:
            return False
        return True

    def list_sync(self, prefix: str) -> builtins.list[str]:
        keys: builtins.list[str] = []
        for batch in obstore.list(self._store, prefix=prefix):
            keys.extend(meta["path"] for meta in batch)
        return sorted(keys)

    def delete_prefix_sync(self, prefix: str) -> int:
        _refuse_root(prefix)
        keys = self.list_sync(prefix)
        for start in range(0, len(keys), DELETE_BATCH):
            obstore.delete(self._store, keys[start : start + DELETE_BATCH])
        return len(keys)

    def _copy_into(self, key: str, out: Any) -> None:
        local = self.local_path(key)
        if local is not None:  # a plain file copy is much cheaper than the obstore stream
            with local.open("rb") as src:
                shutil.copyfileobj(src, out, READ_CHUNK_BYTES)
            return
        for chunk in _chunks(obstore.get(self._store, key)):
            out.write(chunk)


def _chunks(result: Any) -> Iterator[bytes]:
    for chunk in result.stream(min_chunk_size=READ_CHUNK_BYTES):
        yield bytes(chunk)


def _refuse_root(prefix: str) -> None:
    # An empty prefix would delete the whole store: always a bug in the caller.
    if not prefix.strip("/"):
        raise ValueError("refusing to delete the whole store")
