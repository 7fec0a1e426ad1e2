"""Clients for MongoDB and Redis, built so that an outage fails fast instead of hanging.

Both clients are created once per process. Timeouts come from ``DEPENDENCY_TIMEOUT_MS``: a
request that cannot reach a store within it answers 503 ``SERVICE_UNAVAILABLE``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from core.config import Settings

Document = dict[str, Any]


def mongo_client(settings: Settings) -> AsyncMongoClient[Document]:
    timeout = settings.dependency_timeout_ms
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=max(timeout, 10_000),
        appname="streaming-api",
    )


def redis_client(settings: Settings) -> Redis:
    timeout = settings.dependency_timeout_ms / 1000
    # A blocking pool: past ``max_connections`` concurrent calls, a call waits (up to the
    # timeout) for a connection to come back instead of failing at once, so a burst above the
    # pool size queues rather than answering 503.
    # One retry on a connection error: after Redis restarts, every pooled connection is dead,
    # and the first command on each would otherwise answer 503 (the chaos suite showed it).
    # On a dead pooled connection the command never reached a server, so sending it again is
    # safe; if a connection breaks mid-reply instead, a rate counter may count one request twice.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        max_connections=256,
        timeout=timeout,
    )
    return Redis(connection_pool=pool)


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Idempotent: run at bootstrap and safe to run again on every deploy."""
    await db.accounts.create_index([("email", ASCENDING)], unique=True, name="email_unique")
    await db.profiles.create_index([("account_id", ASCENDING)], name="by_account")
    await db.mylist.create_index([("profile_id", ASCENDING), ("added_at", DESCENDING)])
    await db.ratings.create_index([("profile_id", ASCENDING), ("rated_at", DESCENDING)])
    await db.progress.create_index([("profile_id", ASCENDING), ("updated_at", DESCENDING)])
    # Ingest: the coordinator's queue (unfinished jobs, oldest first), a title's jobs, and one
    # job per client Idempotency-Key (a retried upload finds the first one).
    await db.ingest_jobs.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
    await db.ingest_jobs.create_index([("title_id", ASCENDING), ("created_at", DESCENDING)])
    await db.ingest_claims.create_index([("created_at", ASCENDING)])
    await db.uploads.create_index([("updated_at", ASCENDING)])
    # Downloads: a profile's list (newest first) and the active count for the metrics gauge.
    await db.downloads.create_index(
        [("account_id", ASCENDING), ("profile_id", ASCENDING), ("created_at", DESCENDING)]
    )
    await db.downloads.create_index([("state", ASCENDING), ("expires_ms", ASCENDING)])


def to_document(value: msgspec.Struct) -> Document:
    """A struct as a BSON-ready dict: datetimes stay datetimes, field renames (``_id``) apply."""
    doc: Document = msgspec.to_builtins(value, builtin_types=(datetime,))
    return doc


def as_text(value: object) -> str:
    """Redis answers bytes (we do not set decode_responses: payloads stay binary-safe)."""
    return value.decode() if isinstance(value, bytes) else str(value)
