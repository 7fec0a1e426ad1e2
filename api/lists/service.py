"""One list per profile: seed A's watchlist and seed B's my list are the same documents."""

from __future__ import annotations

from datetime import datetime

import msgspec
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from api.wire import utc_now
from core.storage import Document


class ListEntry(msgspec.Struct, kw_only=True):
    title_id: str
    added_at: datetime


def _id(profile_id: str, title_id: str) -> str:
    return f"{profile_id}:{title_id}"


async def add(
    db: AsyncDatabase[Document], *, account_id: str, profile_id: str, title_id: str
) -> bool:
    """Idempotent; True when the title was not on the list before."""
    result = await db.mylist.update_one(
        {"_id": _id(profile_id, title_id)},
        {
            "$setOnInsert": {
                "profile_id": profile_id,
                "account_id": account_id,
                "title_id": title_id,
                "added_at": utc_now(),
            }
        },
        upsert=True,
    )
    return result.upserted_id is not None


async def remove(db: AsyncDatabase[Document], *, profile_id: str, title_id: str) -> bool:
    result = await db.mylist.delete_one({"_id": _id(profile_id, title_id)})
    return result.deleted_count == 1


async def entries(db: AsyncDatabase[Document], *, profile_id: str) -> list[ListEntry]:
    """Newest first."""
    cursor = db.mylist.find({"profile_id": profile_id}).sort("added_at", DESCENDING)
    return [msgspec.convert(doc, ListEntry) async for doc in cursor]
