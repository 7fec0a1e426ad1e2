"""Each replica's cache of profiles, kept exactly current by a per-account version in Redis.

Every playback request checks that the profile in its path or body belongs to the caller, and a
MongoDB find per heartbeat is what capped the hot path (the embedded store does ~640 finds/s).
Profiles change rarely, so each replica keeps the ones it has seen. To stay correct without a
TTL guess, every profile write bumps ``profiles:version:{account}`` in Redis, and every
authenticated request already reads that version in its one rate-limit round trip
(:meth:`api.ratelimit.RateLimiter.admit`). A cached profile is used only while it was read at the
version the request saw; a changed or deleted profile is never served after its write answered.
"""

from __future__ import annotations

from cachetools import LRUCache
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from api.errors import NotFound
from api.profiles import service
from api.profiles.models import Profile
from core.storage import Document


def version_key(account_id: str) -> str:
    return f"profiles:version:{{{account_id}}}"  # same hash slot as the account's other keys


async def bump_version(redis: Redis, account_id: str) -> None:
    """Call before a profile write (so a Redis outage refuses the write, not the invalidation)
    and again after it (so a read that raced the write is not cached as current)."""
    await redis.incr(version_key(account_id))


class ProfileCache:
    def __init__(self, db: AsyncDatabase[Document], size: int = 100_000) -> None:
        self._db = db
        self._entries: LRUCache[str, tuple[int, Profile]] = LRUCache(maxsize=size)
        self.hits = 0
        self.misses = 0

    async def get(self, *, account_id: str, profile_id: str, version: int | None) -> Profile:
        """The caller's profile, or 404. ``version`` None (not read this request): no cache."""
        entry = self._entries.get(profile_id)
        if entry is not None and version is not None and entry[0] == version:
            if entry[1].account_id != account_id:
                raise NotFound("Profile not found")
            self.hits += 1
            return entry[1]
        self.misses += 1
        profile = await service.get(self._db, account_id=account_id, profile_id=profile_id)
        if version is not None:
            self._entries[profile_id] = (version, profile)
        return profile
