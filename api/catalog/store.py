"""Each replica's live copy of the catalog: loaded once, then kept current.

A load reads the snapshot that replicas share through the media store
(:mod:`api.catalog.shared`) when one is valid, and otherwise elects one replica (a Redis lock)
to scan MongoDB and publish a fresh one while the others wait for it: N replicas starting at
once, or all of them reloading after a bulk load, cost one MongoDB scan, not N.

Writers (admin routes, the loader) update MongoDB and then append the changed ids to a Redis
stream. Every replica tails that stream about once a second and refetches only those titles, so
an edit is searchable everywhere within seconds without a MongoDB query per request. A replica
that falls behind the stream's trimmed history simply reloads everything, and so does one that
reads a ``reload`` entry (the bulk loader's announcement).

The follower must never wedge: an entry it cannot read and a title document that does not
decode are skipped and counted, never retried forever, and a follower that keeps failing for
``stall_s`` makes :meth:`CatalogStore.alive` (the replica's liveness) fail, so Serve restarts
the replica instead of letting it serve a frozen catalog.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import msgspec
from cachetools import LRUCache
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from api.catalog.models import Title
from api.catalog.shared import SharedCatalog, stream_position
from api.catalog.snapshot import CatalogSnapshot
from api.errors import NotReady, ServiceUnavailable
from api.search.index import SearchIndex
from core.storage import Document, as_text
from core.tasks import cancel_and_wait

log = logging.getLogger("api.catalog")

CHANGES_STREAM = "catalog:changes"
_STREAM_MAXLEN = 10_000


async def announce_reload(redis: Redis) -> None:
    """After a bulk load: every replica reloads the whole catalog (and keeps serving meanwhile)."""
    await redis.xadd(CHANGES_STREAM, {"reload": "1"}, maxlen=_STREAM_MAXLEN, approximate=True)


async def announce_changes(redis: Redis, title_ids: Iterable[str]) -> None:
    """Tell every replica which titles changed (call after the MongoDB write succeeded)."""
    ids = ",".join(title_ids)
    if ids:
        await redis.xadd(CHANGES_STREAM, {"ids": ids}, maxlen=_STREAM_MAXLEN, approximate=True)


class CatalogStore:
    """The snapshot, its search index, and encoded responses that depend on nothing else."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        redis: Redis,
        poll_s: float = 1.0,
        cache_size: int = 20_000,
        stall_s: float = 60.0,
        shared: SharedCatalog | None = None,
        stream: str = CHANGES_STREAM,
    ) -> None:
        self._db = db
        self._redis = redis
        self._shared = shared
        self._stream = stream
        self._poll_s = poll_s
        self._snapshot = CatalogSnapshot([])
        self._index = SearchIndex([])
        self._loaded = asyncio.Event()
        self._cursor = "0-0"
        # Set when the snapshot must be replaced (our stream position was trimmed away, or a
        # bulk load was announced): the stream entry a replacement must be valid from. The
        # replica keeps serving the old snapshot meanwhile.
        self._need: str | None = None
        self.source = ""  # where the current snapshot came from: "mongodb" or "shared"
        self._task: asyncio.Task[None] | None = None
        self._stall_s = stall_s
        self._failing_since: float | None = None  # monotonic time of the first failure in a row
        self.skipped_entries = 0  # change-stream entries that are no change, reload or anchor
        self.skipped_titles = 0  # title documents that do not decode
        self._loading: int | None = None  # titles read so far by a load in progress
        self._waiting = ""  # what a load that is not reading MongoDB is doing, for readiness
        self._last_error = ""  # why the last refresh failed, for readiness
        # Browse and search bodies are a pure function of (snapshot, viewer, query): identical
        # requests get identical bytes, so a replica keeps them until the snapshot changes.
        self._responses: LRUCache[Hashable, bytes] = LRUCache(maxsize=cache_size)

    @property
    def snapshot(self) -> CatalogSnapshot:
        return self._snapshot

    @property
    def index(self) -> SearchIndex:
        return self._index

    def cached(self, key: Hashable, build: Callable[[], bytes], *, refresh: bool = False) -> bytes:
        """``build()``'s bytes for ``key`` under the current snapshot and availability.

        ``refresh`` (a client's ``Cache-Control: no-cache``) recomputes and replaces the entry.
        """
        snapshot = self._snapshot
        full_key = (snapshot.version, snapshot.availability_epoch, key)
        body = None if refresh else self._responses.get(full_key)
        if body is None:
            body = build()
            self._responses[full_key] = body
        return body

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def ready(self, timeout_s: float = 60.0) -> CatalogSnapshot:
        """The snapshot, once the first load finished; 503 while a fresh replica is loading."""
        if not self._loaded.is_set():
            self.start()
            try:
                await asyncio.wait_for(self._loaded.wait(), timeout_s)
            except TimeoutError:
                raise ServiceUnavailable("The catalog is still loading; retry shortly") from None
        return self._snapshot

    def alive(self) -> bool:
        """False when the refresh task died or has failed for ``stall_s`` in a row: either way
        the replica would serve a frozen catalog forever, and a restart is the cure."""
        if self._task is not None and self._task.done():
            return False
        failing = self._failing_since
        return failing is None or time.monotonic() - failing < self._stall_s

    async def check(self) -> None:
        """Readiness probe: starts the first load if needed, raises until it completed, saying
        how far the load got (a start-up wait can tell a slow load from a stuck one)."""
        if not self._loaded.is_set():
            self.start()
            if self._last_error:
                raise NotReady(f"catalog load failed, retrying: {self._last_error}")
            if self._loading is None and self._waiting:
                raise NotReady(f"catalog loading: {self._waiting}")
            read = self._loading or 0
            raise NotReady(f"catalog loading: {read} titles read")

    async def _run(self) -> None:
        while True:
            try:
                if not self._loaded.is_set() or self._need is not None:
                    await self._load(self._need or "0-0")
                else:
                    await self._follow()
                self._failing_since = None
                self._last_error = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._last_error = type(exc).__name__
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                log.exception("catalog refresh failed; retrying")
            await asyncio.sleep(self._poll_s)

    async def _fetch(self, query: dict[str, Any]) -> list[Title]:
        titles: list[Title] = []
        async for doc in self._db.titles.find(query):
            if self._loading is not None:
                self._loading += 1
            try:
                titles.append(msgspec.convert(doc, Title))
            except msgspec.ValidationError as exc:
                # One bad document must not keep every other title (or edit) from loading.
                self.skipped_titles += 1
                log.error("catalog: title %r skipped, it does not decode: %s", doc.get("_id"), exc)
        return titles

    async def _load(self, need: str) -> None:
        """Install a snapshot valid from stream entry ``need`` or later: the shared one if it
        is, else one this replica scans from MongoDB (and publishes) or another one does."""
        if self._shared is None:
            await self._install(*await self._scan(), source="mongodb")
            return
        while not await self._take_shared(self._shared, need):
            scanned: tuple[list[Title], str] | None = None
            async with self._shared.lock() as held:
                # Re-check under the lock: the holder we waited for may have just published.
                if held and not await self._take_shared(self._shared, need):
                    scanned = await self._scan()
                    await self._publish(self._shared, *scanned)
            if scanned is not None:
                # Built after the lock is released: the waiting replicas read the new object
                # while this one builds its snapshot and index.
                await self._install(*scanned, source="mongodb")
            if held:
                return
            self._waiting = "waiting for the replica that reads MongoDB"
            await asyncio.sleep(self._poll_s)

    @staticmethod
    async def _publish(shared: SharedCatalog, titles: list[Title], cursor: str) -> None:
        try:
            await shared.publish(titles, cursor)
        except Exception:  # this replica still loads; the next one to need a load scans again
            log.exception("catalog: could not publish the shared snapshot")

    async def _take_shared(self, shared: SharedCatalog, need: str) -> bool:
        """Install the shared snapshot if it is new enough and its stream position was not
        trimmed away (the changes since would be lost); False otherwise."""
        pointer = await shared.pointer()
        if pointer is None or stream_position(pointer.cursor) < stream_position(need):
            return False
        if not await self._redis.xrange(self._stream, min=pointer.cursor, max=pointer.cursor):
            return False
        self._waiting = f"reading the shared snapshot ({pointer.titles} titles)"
        try:
            titles = await shared.read(pointer)
        except FileNotFoundError:
            return False  # replaced while we read the pointer: the caller looks again
        except ValueError as exc:
            log.error(
                "catalog: shared snapshot %s unreadable, scanning MongoDB: %s", pointer.key, exc
            )
            return False
        finally:
            self._waiting = ""
        await self._install(titles, pointer.cursor, source="shared")
        return True

    async def _scan(self) -> tuple[list[Title], str]:
        """Every title from MongoDB, and the stream entry the result is valid from."""
        # Note the stream position first: a change made during the scan is replayed after it.
        cursor = await self._stream_head()
        self._loading = 0
        try:
            titles = await self._fetch({})
        finally:
            self._loading = None
        titles.sort(key=lambda title: title.id)
        return titles, cursor

    async def _stream_head(self) -> str:
        last = await self._redis.xrevrange(self._stream, count=1)
        if last:
            return as_text(last[0][0])
        if self._shared is None:
            return "0-0"
        # A shared snapshot must name a real entry: "0-0" could not tell a reader whether the
        # stream was trimmed since (Redis 6 keeps no count of deleted entries).
        anchor = await self._redis.xadd(
            self._stream, {"snapshot": "1"}, maxlen=_STREAM_MAXLEN, approximate=True
        )
        return as_text(anchor)

    async def _install(self, titles: list[Title], cursor: str, *, source: str) -> None:
        self._waiting = f"building the snapshot and search index ({len(titles)} titles)"
        try:
            snapshot = await asyncio.to_thread(CatalogSnapshot, titles)
            index = await asyncio.to_thread(SearchIndex, titles)
        finally:
            self._waiting = ""
        self._snapshot, self._index, self._cursor = snapshot, index, cursor
        self._responses.clear()
        self._need = None
        self.source = source
        self._loaded.set()
        log.info("catalog loaded from %s: %d titles, valid from %s", source, len(titles), cursor)

    async def _follow(self) -> None:
        entries = await self._redis.xrange(self._stream, min=f"({self._cursor}", count=1000)
        if not entries:
            return
        if self._cursor != "0-0" and not await self._redis.xrange(
            self._stream, min=self._cursor, max=self._cursor
        ):
            # Changes we never saw were trimmed away: only a snapshot newer than what we just
            # read (so not one as old as ours) covers them.
            self._need = as_text(entries[-1][0])
            return
        changed: set[str] = set()
        for entry_id, fields in entries:
            fields = fields or {}
            if b"reload" in fields:
                # A bulk load: reload everything, from a snapshot taken after this entry (a
                # scan notes the stream's newest entry first, so it covers this one).
                self._need = as_text(entry_id)
                return
            if b"snapshot" in fields:
                continue  # a shared snapshot's anchor, not a change
            if b"ids" in fields:
                changed.update(filter(None, as_text(fields[b"ids"]).split(",")))
            else:
                self.skipped_entries += 1
                log.error("catalog: change entry %s skipped, it has no ids: %r", entry_id, fields)
        if not changed:
            self._cursor = as_text(entries[-1][0])
            return
        ids = sorted(changed)
        found = await self._fetch({"_id": {"$in": ids}})
        removed = sorted(set(ids) - {title.id for title in found})
        old = self._snapshot
        snapshot = await asyncio.to_thread(old.with_changes, found, removed)
        self._index.replace(
            {snapshot.by_id[title.id]: title for title in found}
            | {old.by_id[i]: None for i in removed if i in old.by_id}
        )
        self._snapshot = snapshot
        self._responses.clear()
        self._cursor = as_text(entries[-1][0])
