"""Seed A's upload body, read as it arrives: a small ``metadata`` JSON part and a ``video_file``
part that streams to the media store without ever being whole in memory.

``python-multipart``'s push parser finds the parts; the video part's bytes go through a small
bounded queue into :meth:`media.store.MediaStore.put_stream`, so a slow store slows the reading
of the socket (backpressure) instead of growing a buffer. The store writes the object atomically:
on any failure (too large, the client went away, a bad part) nothing stays stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import InvalidRequest, PayloadTooLarge
from media.store import MediaStore, TooLarge

if TYPE_CHECKING:  # the library defines its callback type for type checkers only
    from python_multipart.multipart import MultipartCallbacks

METADATA_MAX_BYTES = 64 * 1024  # seed A's metadata is a handful of fields
QUEUE_CHUNKS = 8  # chunks (typically 64 KiB each) between the socket and the store: ~0.5 MiB
FIELDS = ("video_file", "metadata")


@dataclass
class Received:
    metadata: bytes
    size: int  # bytes of the video file, stored under the key given to :func:`receive`
    filename: str


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str = ""


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest(
            "Send multipart/form-data with a video_file and a metadata part",
            details="Content-Type: expected multipart/form-data with a boundary",
        )
    return boundary


def _disposition(part: _Part) -> None:
    _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
    part.name = options.get(b"name", b"").decode(errors="replace")
    part.filename = options.get(b"filename", b"").decode(errors="replace")


async def receive(
    body: AsyncIterator[bytes],
    content_type: str,
    *,
    store: MediaStore,
    key: str,
    max_bytes: int,
) -> Received:
    """Parse the whole body; the video lands at ``key``. Raises 400/413 with nothing stored."""
    parser_state = _ParserState(store, key, max_bytes)
    parser = MultipartParser(boundary_of(content_type), parser_state.callbacks())
    try:
        async for chunk in body:
            parser.write(chunk)
            await parser_state.drain()
        parser.finalize()
        await parser_state.drain()
        return await parser_state.result()
    except BaseException:
        await parser_state.abort()
        raise


class _ParserState:
    """Callbacks collect what the parser found; :meth:`drain` moves it on, asynchronously."""

    def __init__(self, store: MediaStore, key: str, max_bytes: int) -> None:
        self.store, self.key, self.max_bytes = store, key, max_bytes
        self.part: _Part | None = None
        self.header_field = b""
        self.header_value = b""
        self.metadata = bytearray()
        self.seen: set[str] = set()
        self.filename = ""
        self.video_chunks: list[bytes] = []  # found by the last write(), not yet queued
        self.video_ended = False
        self.queue: asyncio.Queue[bytes | None] | None = None
        self.upload: asyncio.Task[int] | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self.part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def _header_end(self) -> None:
        assert self.part is not None
        self.part.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def _headers_finished(self) -> None:
        assert self.part is not None
        _disposition(self.part)
        name = self.part.name
        if name not in FIELDS:
            raise InvalidRequest(
                f"Unexpected form field {name!r}", details=f"{name or 'part'}: unknown field"
            )
        if name in self.seen:
            raise InvalidRequest(f"{name} was sent twice", details=f"{name}: sent twice")
        self.seen.add(name)
        if name == "video_file":
            self.filename = self.part.filename

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        assert self.part is not None
        if self.part.name == "video_file":
            self.video_chunks.append(bytes(data[start:end]))
        else:
            self.metadata += data[start:end]
            if len(self.metadata) > METADATA_MAX_BYTES:
                raise InvalidRequest(
                    "metadata is too large",
                    details=f"metadata: more than {METADATA_MAX_BYTES} bytes",
                )

    def _part_end(self) -> None:
        assert self.part is not None
        if self.part.name == "video_file":
            self.video_ended = True
        self.part = None

    async def drain(self) -> None:
        """Hand the video bytes found so far to the store (waiting when it is behind)."""
        if self.video_chunks and self.queue is None:
            self.queue = asyncio.Queue(maxsize=QUEUE_CHUNKS)
            self.upload = asyncio.create_task(
                self.store.put_stream(self.key, self._from_queue(), max_bytes=self.max_bytes)
            )
        if self.queue is None:
            return
        chunks, self.video_chunks = self.video_chunks, []
        for chunk in chunks:
            await self._put(chunk)
        if self.video_ended:
            await self._put(None)
            self.video_ended = False

    async def _put(self, item: bytes | None) -> None:
        assert self.queue is not None and self.upload is not None
        put = asyncio.ensure_future(self.queue.put(item))
        # The store may fail (too large) while we wait for queue space: stop reading then.
        await asyncio.wait({put, self.upload}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            await self._upload_result()

    async def _from_queue(self) -> AsyncIterator[bytes]:
        assert self.queue is not None
        while (chunk := await self.queue.get()) is not None:
            yield chunk

    async def _upload_result(self) -> int:
        assert self.upload is not None
        try:
            return await self.upload
        except TooLarge:
            raise PayloadTooLarge(
                f"The video is larger than {self.max_bytes} bytes",
                details=f"video_file: more than {self.max_bytes} bytes",
            ) from None

    async def result(self) -> Received:
        if "video_file" not in self.seen:
            raise InvalidRequest("video_file is required", details="video_file: missing")
        if "metadata" not in self.seen:
            raise InvalidRequest("metadata is required", details="metadata: missing")
        if self.upload is None:  # an empty file part: nothing was queued
            raise InvalidRequest("video_file is empty", details="video_file: empty")
        size = await self._upload_result()
        return Received(bytes(self.metadata), size, self.filename)

    async def abort(self) -> None:
        """Nothing stays stored: stop the streaming put (it deletes what it staged)."""
        if self.upload is not None and not self.upload.done():
            self.upload.cancel()
        if self.upload is not None:
            with contextlib.suppress(BaseException):
                await self.upload
        with contextlib.suppress(Exception):
            await self.store.delete_prefix(self.key)
