"""The collaborators a replica builds once and every route shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from api.auth.keys import KeyRing
from api.auth.tokens import TokenService
from api.catalog.shared import SharedCatalog
from api.catalog.store import CatalogStore
from api.profiles.cache import ProfileCache
from api.ratelimit import RateLimiter
from core.config import RuntimeConfig, Settings
from core.shards import Shards
from core.signing import load_key
from core.storage import Document, mongo_client, redis_client
from core.trending import TrendingBoard
from media.store import MediaStore


@dataclass(slots=True)
class Deps:
    settings: Settings
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    redis: Redis
    tokens: TokenService
    limiter: RateLimiter
    catalog: CatalogStore
    trending: TrendingBoard
    media_key: bytes
    profiles: ProfileCache
    store: MediaStore  # uploads, packaged media, artwork
    # Set by the Serve ingress (Ray) or a test (in-process shards); None means no playback.
    shards: Shards | None = None
    # Set by the Serve ingress: nudges the ingest coordinator (None: jobs wait for its poll).
    wake_ingest: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def build(cls, settings: Settings, *, generate_keys: bool = False) -> Deps:
        mongo = mongo_client(settings)
        redis = redis_client(settings)
        keys = KeyRing.load(settings.jwt_keys_dir, generate=generate_keys)
        tokens = TokenService.for_settings(redis, keys, settings)
        limiter = RateLimiter(
            redis, settings.runtime.rate_limits, settings.runtime.rate_limits_enabled
        )
        db = mongo[settings.mongodb_db]
        store = MediaStore.from_url(settings.ingest.store_url)
        return cls(
            settings,
            mongo,
            db,
            redis,
            tokens,
            limiter,
            CatalogStore(db, redis, shared=SharedCatalog(store, redis)),
            TrendingBoard(redis),
            load_key(settings.media_key_file),
            ProfileCache(db),
            store,
        )

    def reconfigure(self, runtime: RuntimeConfig) -> None:
        self.limiter.configure(runtime.rate_limits, runtime.rate_limits_enabled)
        self.tokens.resize_cache(runtime.token_cache_size)

    async def close(self) -> None:
        await self.catalog.stop()
        await self.redis.aclose()
        await self.mongo.close()
