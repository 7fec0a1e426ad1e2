"""A profile's viewing history, as the playback path persists it (collection ``progress``).

One document per profile and asset: the latest position, whether it counts as watched, and when
it was last updated. The playback work writes it (coalesced by the shard actors); catalog
features (continue watching, "because you watched", recommendations) read it from here.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from core.protocol import Position, progress_id
from core.storage import Document


class Viewing(Position, kw_only=True):
    """A progress document as stored: the :class:`~core.protocol.Position` the shard flushed,
    whether it counted as watched, and when it arrived."""

    watched: bool = False
    updated_at: datetime


async def recent(
    db: AsyncDatabase[Document], *, profile_id: str, limit: int = 200
) -> list[Viewing]:
    """Newest first."""
    cursor = (
        db.progress.find({"profile_id": profile_id, "hidden": {"$ne": True}})
        .sort("updated_at", DESCENDING)
        .limit(limit)
    )
    return [msgspec.convert(doc, Viewing) async for doc in cursor]


async def viewing(db: AsyncDatabase[Document], *, profile_id: str, asset_id: str) -> Viewing | None:
    """One asset's progress (a point read by ``_id``, far cheaper than :func:`recent`)."""
    doc = await db.progress.find_one(
        {"_id": progress_id(profile_id, asset_id), "hidden": {"$ne": True}}
    )
    return None if doc is None else msgspec.convert(doc, Viewing)


async def hide(db: AsyncDatabase[Document], *, profile_id: str, title_id: str) -> None:
    """Remove a title from history (and so from continue watching); a later watch shows it again."""
    await db.progress.update_many(
        {"profile_id": profile_id, "title_id": title_id}, {"$set": {"hidden": True}}
    )


async def record_cowatch(
    db: AsyncDatabase[Document], redis: Redis, *, profile_id: str, title_id: str
) -> None:
    """A finished title counts as watched together with the profile's other finished titles:
    "people who watched this also watched" for the similar-titles blend."""
    others = {
        v.title_id for v in await recent(db, profile_id=profile_id, limit=50) if v.watched
    } - {title_id}
    if not others:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for other in others:
            pipe.zincrby(f"cowatch:{title_id}", 1, other)
            pipe.zincrby(f"cowatch:{other}", 1, title_id)
        await pipe.execute()
