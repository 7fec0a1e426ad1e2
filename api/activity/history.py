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

from api.storage import Document


class Viewing(msgspec.Struct, kw_only=True):
    profile_id: str
    title_id: str
    asset_id: str
    position_ms: int
    duration_ms: int
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


async def hide(db: AsyncDatabase[Document], *, profile_id: str, title_id: str) -> None:
    """Remove a title from history (and so from continue watching); a later watch shows it again."""
    await db.progress.update_many(
        {"profile_id": profile_id, "title_id": title_id}, {"$set": {"hidden": True}}
    )
