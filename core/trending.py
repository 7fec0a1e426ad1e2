"""Trending: engagement counted per hour in Redis sorted sets, summed with exponential decay.

Every play (and, more weakly, every list add or thumbs-up) increments the title in the current
hour's set. "Trending now" is the sum over the last 24 hourly sets, each weighted by
``0.5 ** (age_hours / half_life)``, so yesterday's hit fades instead of dropping off a cliff.
Replicas cache the result for a few seconds; every replica computes the same thing.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from core.storage import as_text

WINDOW_HOURS = 24
HALF_LIFE_HOURS = 6.0
CACHE_S = 5.0

# What each kind of engagement is worth relative to starting to watch.
WEIGHTS = {"play": 1.0, "finish": 0.5, "two_thumbs_up": 0.6, "thumbs_up": 0.4, "list_add": 0.3}


def _hour(ts: float) -> int:
    return int(ts // 3600)


def _key(hour: int) -> str:
    return f"trending:h:{hour}"


def add_to(pipe: Pipeline, title_id: str, kind: str, now: float | None = None) -> None:
    """Queue one engagement on a pipeline someone else executes (the shards' journal write)."""
    hour = _hour(now or time.time())
    pipe.zincrby(_key(hour), WEIGHTS[kind], title_id)
    pipe.expire(_key(hour), (WINDOW_HOURS + 2) * 3600)


async def record(redis: Redis, title_id: str, kind: str, now: float | None = None) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        add_to(pipe, title_id, kind, now)
        await pipe.execute()


class TrendingBoard:
    """Per-replica cache of the decayed scores, refreshed at most every ``CACHE_S`` seconds."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scores: dict[str, float] = {}
        self._fetched_at = 0.0

    async def scores(self) -> dict[str, float]:
        now = time.time()
        if now - self._fetched_at >= CACHE_S:
            self._scores = await self._compute(now)
            self._fetched_at = now
        return self._scores

    async def _compute(self, now: float) -> dict[str, float]:
        current = _hour(now)
        weights = {
            _key(current - age): 0.5 ** (age / HALF_LIFE_HOURS) for age in range(WINDOW_HOURS)
        }
        target = f"trending:sum:{current}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zunionstore(target, weights)
            pipe.expire(target, 60)
            pipe.zrevrange(target, 0, 499, withscores=True)
            *_, top = await pipe.execute()
        return {as_text(member): float(score) for member, score in top}
