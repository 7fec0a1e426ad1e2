"""``python -m loadtest.catalog_startup``: how long a replica takes to load the catalog.

Starts its own embedded SecantusDB and Redis (``stack/stores.py``) and a local media store in a
work folder, fills ``titles`` once per size (kept across runs: filling 100,000 titles into
SecantusDB takes minutes), then measures, per catalog size:

(a) one replica's cold load from MongoDB (no shared snapshot exists: it scans and publishes one),
(b) one replica's load from the shared snapshot object,
(c) two replicas starting at once with no shared snapshot (one scans, the other waits for the
    object), and the same two with sharing off (both scan MongoDB: the old behaviour),
(d) a reload after a bulk load's ``reload`` announcement (one replica reloads and republishes,
    the other takes the new object).

Each replica is its own process (``replica`` sub-command), as Serve's replicas are: two of them
compete for the same two cores and the same MongoDB. Only ``titles`` is filled: the catalog
store never reads ``assets``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, ReplaceOne

from api.catalog.demo import generate
from core.storage import Document, to_document
from stack.processes import Managed, free_port
from stack.stores import start_mongo, start_redis

DB_NAME = "catalog_bench"
FILL_BATCH = 500  # title documents per bulk write (series documents are large)


def _say(line: str) -> None:
    print(line, flush=True)


async def fill(mongo_url: str, count: int) -> None:
    """Upsert demo titles until ``titles`` holds exactly ``count`` (resumable: same ids)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        titles = client[DB_NAME].titles
        have = await titles.estimated_document_count()
        if have == count:
            _say(f"titles: {count:,} already present")
            return
        if have > count:
            await titles.delete_many({})
            have = 0
        _say(f"filling {count:,} titles (have {have:,}) ...")
        started = time.monotonic()
        ops: list[ReplaceOne[Document]] = []
        for n, (title, _assets) in enumerate(generate(count), 1):
            if n <= have:
                continue  # resume: ids are t_000001..., inserted in order
            ops.append(ReplaceOne({"_id": title.id}, to_document(title), upsert=True))
            if len(ops) == FILL_BATCH or n == count:
                await titles.bulk_write(ops, ordered=False)
                ops = []
                rate = (n - have) / max(time.monotonic() - started, 1e-9)
                if n % 5000 == 0 or n == count:
                    _say(f"  titles {n:,}/{count:,} ({rate:,.0f}/s)")
    finally:
        await client.close()


class Stores:
    """SecantusDB (data kept per size), Redis and a media folder (fresh per run)."""

    def __init__(self, work: Path, size: int) -> None:
        self.work = work
        self.size = size
        self.mongo_port, self.redis_port = free_port(), free_port()
        self.store_dir = work / "media"
        self.procs: list[Managed] = []

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> None:
        logs = self.work / "logs"
        self.procs.append(start_mongo(self.work / f"mongo-{self.size}", self.mongo_port, logs))
        shutil.rmtree(self.work / "redis", ignore_errors=True)
        self.procs.append(start_redis(self.work / "redis", self.redis_port, logs))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


# -- one replica (a child process) ------------------------------------------------------------


async def replica(args: argparse.Namespace) -> None:
    """Load like an ingress replica would; print ``ready`` (and ``reloaded``) as JSON lines."""
    from redis.asyncio import Redis

    from api.catalog.store import CatalogStore

    client: AsyncMongoClient[Document] = AsyncMongoClient(args.mongo, tz_aware=True)
    redis = Redis.from_url(args.redis)
    extra: dict[str, Any] = {}
    if args.share:
        from api.catalog.shared import SharedCatalog
        from media.store import MediaStore

        extra["shared"] = SharedCatalog(MediaStore(args.store), redis)
    store = CatalogStore(client[DB_NAME], redis, poll_s=0.2, **extra)
    started = time.time()
    store.start()
    await store.ready(timeout_s=3600)
    first = store.snapshot
    _emit("ready", started, len(first.titles), store)
    while args.stay:
        await asyncio.sleep(0.05)
        if store.snapshot is not first:
            first = store.snapshot
            _emit("reloaded", started, len(first.titles), store)
    await store.stop()
    await redis.aclose()
    await client.close()


def _emit(event: str, started: float, titles: int, store: Any) -> None:
    line = {
        "event": event,
        "started": started,
        "at": time.time(),
        "titles": titles,
        "source": getattr(store, "source", "mongodb"),
    }
    print(json.dumps(line), flush=True)


class Replica:
    """A replica child process and the JSON lines it printed."""

    def __init__(self, stores: Stores, *, share: bool, stay: bool = False) -> None:
        argv = [sys.executable, "-m", "loadtest.catalog_startup", "replica"]
        argv += ["--mongo", stores.mongo_url, "--redis", stores.redis_url]
        argv += ["--store", str(stores.store_dir)]
        argv += ["--share"] if share else []
        argv += ["--stay"] if stay else []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)

    def next_event(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                event: dict[str, Any] = json.loads(line)
                return event
        raise RuntimeError(f"replica exited with {self.proc.wait()} before reporting")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


# -- scenarios --------------------------------------------------------------------------------


def _reset(stores: Stores, *, keep_object: bool = False) -> None:
    """As on a fresh stack: no shared snapshot, an empty change stream. ``keep_object``: as on
    a restart, keep both (the object is only valid with the stream entry it names)."""
    import redis

    from api.catalog.store import CHANGES_STREAM

    with redis.Redis.from_url(stores.redis_url) as client:
        if keep_object:
            client.delete("catalog:snapshot:lock")
            return
        shutil.rmtree(stores.store_dir, ignore_errors=True)
        client.delete(CHANGES_STREAM, "catalog:snapshot:lock")


def _one(stores: Stores, *, share: bool) -> dict[str, Any]:
    replica = Replica(stores, share=share)
    try:
        ready = replica.next_event()
    finally:
        replica.stop()
    return {"seconds": ready["at"] - ready["started"], "source": ready["source"]}


def _pair(stores: Stores, *, share: bool) -> dict[str, Any]:
    replicas = [Replica(stores, share=share) for _ in range(2)]
    try:
        ready = [r.next_event() for r in replicas]
    finally:
        for r in replicas:
            r.stop()
    started = min(e["started"] for e in ready)
    return {
        "seconds": max(e["at"] for e in ready) - started,
        "source": "+".join(sorted(e["source"] for e in ready)),
    }


def _reload(stores: Stores, *, share: bool) -> dict[str, Any]:
    """Two loaded replicas, then a bulk loader's ``reload`` announcement: until both reloaded."""
    import redis

    from api.catalog.store import CHANGES_STREAM

    replicas = [Replica(stores, share=share, stay=True) for _ in range(2)]
    try:
        for r in replicas:
            r.next_event()
        with redis.Redis.from_url(stores.redis_url) as client:
            announced = time.time()
            client.xadd(CHANGES_STREAM, {"reload": "1"})
        done = [r.next_event() for r in replicas]
    finally:
        for r in replicas:
            r.stop()
    return {
        "seconds": max(e["at"] for e in done) - announced,
        "source": "+".join(sorted(e["source"] for e in done)),
    }


# key: (label, starts from a published object, run)
SCENARIOS: dict[str, tuple[str, bool, Callable[[Stores], dict[str, Any]]]] = {
    "cold-off": ("one replica, cold, sharing off (before)", False, lambda s: _one(s, share=False)),
    "a": ("(a) one replica, cold: MongoDB scan + publish", False, lambda s: _one(s, share=True)),
    "b": ("(b) one replica from the shared object", True, lambda s: _one(s, share=True)),
    "c-off": (
        "(c) two replicas at once, sharing off (before)",
        False,
        lambda s: _pair(s, share=False),
    ),
    "c": ("(c) two replicas at once, shared", False, lambda s: _pair(s, share=True)),
    "d-off": (
        "(d) reload, two replicas, sharing off (before)",
        False,
        lambda s: _reload(s, share=False),
    ),
    "d": ("(d) reload, two replicas, shared", True, lambda s: _reload(s, share=True)),
}


def measure(stores: Stores, names: list[str], runs: int) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    for n in range(runs):
        for name in names:
            label, keep_object, run = SCENARIOS[name]
            if keep_object and not any(stores.store_dir.rglob("*.zst")):
                _reset(stores)
                _one(stores, share=True)  # publish the object this scenario starts from
            _reset(stores, keep_object=keep_object)
            result = run(stores)
            results.setdefault(name, []).append(result)
            _say(f"  run {n + 1}/{runs}  {label}: {result['seconds']:.1f}s ({result['source']})")
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.catalog_startup", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("replica", help="(internal) one replica's load")
    child.add_argument("--mongo", required=True)
    child.add_argument("--redis", required=True)
    child.add_argument("--store", required=True)
    child.add_argument("--share", action="store_true")
    child.add_argument("--stay", action="store_true", help="keep following; report reloads")
    parser.add_argument("--sizes", default="5000,100000", help="catalog sizes, comma-separated")
    parser.add_argument("--runs", default="3,1", help="runs per scenario, per size")
    parser.add_argument("--work", default="/tmp/catalog-startup", help="data folder (kept)")
    parser.add_argument(
        "--scenarios", help=f"keys to run, comma-separated: {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--fill-only", action="store_true", help="fill the data dirs and stop")
    parser.add_argument("--out", help="write the raw results here as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replica":
        asyncio.run(replica(args))
        return 0
    work = Path(args.work)
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [int(r) for r in args.runs.split(",")]
    names = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    report: dict[str, Any] = {}
    for size, size_runs in zip(sizes, runs + runs[-1:] * len(sizes), strict=False):
        stores = Stores(work, size)
        stores.start()
        try:
            asyncio.run(fill(stores.mongo_url, size))
            if args.fill_only:
                continue
            _say(f"{size:,} titles:")
            report[str(size)] = measure(stores, names, size_runs)
        finally:
            stores.stop()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    for size, results in report.items():
        _say(f"medians at {int(size):,} titles:")
        for name, rows in results.items():
            median = statistics.median(r["seconds"] for r in rows)
            _say(f"  {SCENARIOS[name][0]:50} {median:6.1f}s  ({len(rows)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
