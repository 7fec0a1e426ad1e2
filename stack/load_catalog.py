"""``python -m stack.load_catalog --titles N``: fill ``titles`` and ``assets`` with the demo catalog.

A fresh stack needs a realistic catalog for browsing, search and load tests. Every write is a
``ReplaceOne({"_id": id}, doc, upsert=True)`` in an unordered ``bulk_write``, so re-running (or
resuming after an interruption) converges on the same documents instead of duplicating them.
Generation is lazy and the next batch is built while the previous one is being written, so memory
stays flat and the database, not Python, sets the pace.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from api.catalog.demo import generate
from api.catalog.store import announce_reload
from core.config import Settings
from core.storage import Document, mongo_client, redis_client, to_document

Say = Callable[[str], Any]


class _BatchWriter:
    """Buffers upserts for one collection; at most one bulk write is in flight at a time."""

    def __init__(self, collection: AsyncCollection[Document], batch: int) -> None:
        self.collection = collection
        self.batch = batch
        self.ops: list[ReplaceOne[Document]] = []
        self.pending: asyncio.Task[Any] | None = None
        self.written = 0

    async def add(self, doc: Document) -> bool:
        """Queue ``doc``; True when this filled a batch and started writing it."""
        self.ops.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        if len(self.ops) < self.batch:
            return False
        await self.flush()
        return True

    async def flush(self) -> None:
        await self.wait()
        if self.ops:
            ops, self.ops = self.ops, []
            self.pending = asyncio.create_task(self.collection.bulk_write(ops, ordered=False))
            self.written += len(ops)

    async def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()


async def ensure_catalog_indexes(db: AsyncDatabase[Document]) -> None:
    """Idempotent: the lookups the catalog snapshot and admin listing rely on."""
    for field in ("genres", "type", "date_added", "updated_at"):
        await db.titles.create_index([(field, ASCENDING)], name=f"by_{field}")
    await db.assets.create_index([("title_id", ASCENDING)], name="by_title_id")


async def load(
    db: AsyncDatabase[Document],
    count: int,
    *,
    seed: int = 7,
    base_url: str,
    batch: int = 1000,
    say: Say = print,
) -> int:
    """Upsert ``count`` demo titles and their assets; returns the number of titles written."""
    titles = _BatchWriter(db.titles, batch)
    assets = _BatchWriter(db.assets, batch)
    started = time.monotonic()
    try:
        for done, (title, title_assets) in enumerate(
            generate(count, seed=seed, base_url=base_url), 1
        ):
            for asset in title_assets:
                await assets.add(to_document(asset))
            if await titles.add(to_document(title)):
                say(_progress(done, count, assets.written, started))
        for writer in (titles, assets):
            await writer.flush()
            await writer.wait()
    finally:
        titles.cancel()
        assets.cancel()
    elapsed = time.monotonic() - started
    say(f"loaded {titles.written} titles, {assets.written} assets in {elapsed:.1f}s")
    return titles.written


def _progress(done: int, count: int, assets: int, started: float) -> str:
    rate = done / max(time.monotonic() - started, 1e-9)
    return f"titles {done}/{count}  assets {assets}  ({rate:,.0f} titles/s)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stack.load_catalog", description=__doc__)
    parser.add_argument("--titles", type=int, required=True, help="how many titles to generate")
    parser.add_argument(
        "--if-empty", action="store_true", help="do nothing when `titles` already has documents"
    )
    parser.add_argument("--seed", type=int, default=7, help="same seed, same catalog")
    parser.add_argument("--batch", type=int, default=1000, help="operations per bulk_write")
    parser.add_argument("--base-url", help="artwork URL prefix (default: PUBLIC_BASE_URL)")
    return parser


async def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    client = mongo_client(settings)
    try:
        db = client[settings.mongodb_db]
        if args.if_empty and await db.titles.find_one({}, projection={"_id": 1}) is not None:
            print("titles already present; skipping (--if-empty)", flush=True)
            return 0
        await ensure_catalog_indexes(db)
        await load(
            db,
            args.titles,
            seed=args.seed,
            base_url=args.base_url or settings.public_base_url,
            batch=args.batch,
            say=lambda line: print(line, flush=True),
        )
        # A running stack's replicas hold snapshots: tell them to reload.
        redis = redis_client(settings)
        try:
            await announce_reload(redis)
        finally:
            await redis.aclose()
    finally:
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.titles < 0 or args.batch < 1:
        print("--titles must be >= 0 and --batch >= 1", file=sys.stderr)
        return 2
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
