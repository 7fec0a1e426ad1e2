"""Replicas share one catalog snapshot through the object store: one MongoDB scan, not one each.

Real SecantusDB and Redis (the session's stores), an in-memory object store, a small generated
catalog; every test has its own database, stream, lock and object prefix.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from api.catalog.demo import generate
from api.catalog.models import Title
from api.catalog.shared import SharedCatalog, decode, encode
from api.catalog.store import CatalogStore
from api.deps import Deps
from api.errors import NotReady
from core.storage import Document, to_document
from media.store import MediaStore

TITLES = 30


class MemoryStore:
    """An object store in a dict, counting reads per key."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: dict[str, int] = {}

    async def get(self, key: str) -> bytes:
        self.reads[key] = self.reads.get(key, 0) + 1
        try:
            return self.objects[key]
        except KeyError:
            raise FileNotFoundError(key) from None

    async def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)


@dataclass
class World:
    deps: Deps
    db: AsyncDatabase[Document]
    objects: MemoryStore
    tag: str
    stores: list[CatalogStore] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return f"catalog:changes:{self.tag}"

    def shared(self, objects: MediaStore | MemoryStore | None = None) -> SharedCatalog:
        return SharedCatalog(
            objects or self.objects,
            self.deps.redis,
            prefix=f"catalog-{self.tag}/",
            lock_key=f"catalog:lock:{self.tag}",
        )

    def replica(
        self, db: AsyncDatabase[Document] | None = None, shared: SharedCatalog | None = None
    ) -> CatalogStore:
        store = CatalogStore(
            self.db if db is None else db,
            self.deps.redis,
            poll_s=0.05,
            shared=shared or self.shared(),
            stream=self.stream,
        )
        self.stores.append(store)
        return store

    async def fill(self, count: int, start: int = 0) -> list[Title]:
        titles = [title for title, _ in generate(start + count)][start:]
        await self.db.titles.insert_many([to_document(title) for title in titles])
        return titles


@pytest.fixture
async def world(deps: Deps) -> AsyncIterator[World]:
    tag = secrets.token_hex(4)
    world = World(deps, deps.mongo[f"catalog_shared_{tag}"], MemoryStore(), tag)
    await world.fill(TITLES)
    yield world
    for store in world.stores:
        await store.stop()
    await deps.mongo.drop_database(world.db.name)
    await deps.redis.delete(world.stream)


async def _eventually(check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            result = check()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.05)


def test_the_object_round_trips_titles_and_refuses_garbage() -> None:
    titles = [title for title, _ in generate(5)]
    cursor, back = decode(encode(titles, "17-2"))
    assert (cursor, back) == ("17-2", titles)
    with pytest.raises(ValueError):
        decode(b"not zstd")


async def test_two_replicas_starting_at_once_scan_mongodb_once(world: World) -> None:
    first, second = world.replica(), world.replica()
    snapshots = await asyncio.gather(first.ready(30), second.ready(30))
    assert sorted(store.source for store in (first, second)) == ["mongodb", "shared"]
    assert [len(s.titles) for s in snapshots] == [TITLES, TITLES]
    assert snapshots[0].titles == snapshots[1].titles


async def test_a_restart_reads_the_object_not_mongodb(world: World) -> None:
    await world.replica().ready(30)
    empty = world.deps.mongo[f"catalog_shared_{world.tag}_empty"]  # a scan would find nothing
    restarted = world.replica(db=empty)
    snapshot = await restarted.ready(30)
    assert restarted.source == "shared" and len(snapshot.titles) == TITLES


async def test_changes_after_the_objects_position_are_replayed(world: World) -> None:
    await world.replica().ready(30)
    await world.db.titles.update_one({"_id": "t_000001"}, {"$set": {"name": "Renamed"}})
    await world.deps.redis.xadd(world.stream, {"ids": "t_000001"})
    late = world.replica()
    await late.ready(30)
    assert late.source == "shared"
    await _eventually(lambda: late.snapshot.get("t_000001").name == "Renamed")  # type: ignore[union-attr]


async def test_a_reload_is_scanned_once_and_replaces_the_object(world: World) -> None:
    first, second = world.replica(), world.replica()
    await asyncio.gather(first.ready(30), second.ready(30))
    old = await world.shared().pointer()
    await world.fill(10, start=TITLES)  # the bulk load, then its announcement
    await world.deps.redis.xadd(world.stream, {"reload": "1"})
    await _eventually(lambda: all(len(s.snapshot.titles) == TITLES + 10 for s in (first, second)))
    new = await world.shared().pointer()
    assert old is not None and new is not None and new.titles == TITLES + 10
    assert old.key not in world.objects.objects  # replaced, not piled up
    assert sorted(store.source for store in (first, second)) == ["mongodb", "shared"]


async def test_an_object_whose_position_was_trimmed_is_not_used(world: World) -> None:
    await world.replica().ready(30)
    pointer = await world.shared().pointer()
    assert pointer is not None
    await world.deps.redis.xdel(world.stream, pointer.cursor)  # as MAXLEN trimming does
    await world.fill(3, start=TITLES)  # a change the trimmed history might have carried
    late = world.replica()
    snapshot = await late.ready(30)
    assert late.source == "mongodb" and len(snapshot.titles) == TITLES + 3
    fresh = await world.shared().pointer()
    assert fresh is not None and fresh.cursor != pointer.cursor and fresh.titles == TITLES + 3


async def test_an_unreadable_object_is_replaced_by_a_scan(world: World) -> None:
    await world.replica().ready(30)
    pointer = await world.shared().pointer()
    assert pointer is not None
    world.objects.objects[pointer.key] = b"\x28\xb5\x2f\xfd garbage"
    late = world.replica()
    await late.ready(30)
    assert late.source == "mongodb"
    fresh = await world.shared().pointer()
    assert fresh is not None and fresh.key != pointer.key


async def test_readiness_says_a_replica_waits_for_the_scanning_one(world: World) -> None:
    async with world.shared().lock() as held:  # another replica is scanning
        assert held
        waiting = world.replica()
        waiting.start()
        await _eventually(lambda: waiting._waiting != "")
        with pytest.raises(NotReady, match="waiting for the replica that reads MongoDB"):
            await waiting.check()
    await waiting.ready(30)  # the holder "died" without publishing: this one scans
    assert waiting.source == "mongodb"


async def test_the_lock_is_exclusive_renewed_and_released(world: World) -> None:
    shared = SharedCatalog(
        world.objects, world.deps.redis, lock_key=f"catalog:lock:{world.tag}", lock_ttl_s=0.3
    )
    async with shared.lock() as held:
        assert held
        await asyncio.sleep(0.6)  # twice the TTL: only renewal keeps it
        async with shared.lock() as again:
            assert not again
    async with shared.lock() as after:
        assert after


async def test_the_media_store_holds_the_object(world: World, tmp_path: Path) -> None:
    media = MediaStore(str(tmp_path))
    first = world.replica(shared=world.shared(media))
    await first.ready(30)
    second = world.replica(shared=world.shared(media))
    await second.ready(30)
    assert second.source == "shared"
    folder = tmp_path / f"catalog-{world.tag}"
    assert sorted(p.name for p in folder.iterdir()) == ["snapshot.json", "snapshots"]
    assert len(list((folder / "snapshots").iterdir())) == 1
