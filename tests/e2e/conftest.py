"""One real stack per test session: SecantusDB, Redis, a Ray head with Serve's HAProxy ingress.

Every port and directory is private to the session, so the suite runs beside ``make run``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from stack.local import LocalStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    for name in ("MONGODB_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # the e2e suite always runs its own embedded stores
    # Short leases and fast flushes, so expiry and durability are observable within a test.
    stack = LocalStack.private(
        tmp_path_factory.mktemp("stack"),
        extra_env={
            "LEASE_TTL_S": "6",
            "PROGRESS_FLUSH_S": "1",
            "PROGRESS_PERSIST_S": "1",
            # Above test_ingest's 300 MiB memory test; its 413 test streams just past it.
            "INGEST_MAX_UPLOAD_BYTES": str(320 * 1024 * 1024),
            # Downloads (only tests/e2e/test_downloads.py uses them): licenses that expire
            # within a test, and per-device and renewal limits reachable in a few requests.
            "DOWNLOAD_LICENSE_TTL_S": "15",
            "DOWNLOADS_PER_DEVICE": "3",
            "DOWNLOAD_RENEWALS": "2",
        },
    )
    try:
        stack.start(say=lambda line: print(f"[stack] {line}", flush=True))
    except BaseException:
        stack.stop(say=lambda line: None)
        raise
    yield stack
    stack.stop(say=lambda line: None)
    stack.remove_scratch()  # Ray's logs stay only when start-up failed, for the post-mortem


@pytest.fixture
async def client(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client
