"""Shared fixtures: real MongoDB (SecantusDB) and Redis processes on free ports, once per session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from api.deps import Deps
from core.config import Settings
from stack.processes import Managed, free_port
from stack.stores import start_mongo, start_redis


class Stores:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.mongo_port = free_port()
        self.redis_port = free_port()
        self.procs: list[Managed] = []

    def start(self) -> None:
        logs = self.root / "logs"
        self.procs.append(start_mongo(self.root / "mongo", self.mongo_port, logs))
        self.procs.append(start_redis(self.root / "redis", self.redis_port, logs))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def env(self) -> dict[str, str]:
        return {
            "MONGODB_URL": f"mongodb://127.0.0.1:{self.mongo_port}/",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "STREAMING_DATA_DIR": str(self.root / "data"),
        }


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    stores = Stores(tmp_path_factory.mktemp("stores"))
    stores.start()
    yield stores
    stores.stop()


@pytest.fixture(scope="session")
def settings(stores: Stores) -> Iterator[Settings]:
    saved = dict(os.environ)
    os.environ.update(stores.env())
    try:
        yield Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
async def deps(settings: Settings) -> AsyncIterator[Deps]:
    from core.storage import ensure_indexes

    deps = Deps.build(settings, generate_keys=True)
    await ensure_indexes(deps.db)
    yield deps
    await deps.close()
