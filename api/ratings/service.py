"""Seed B's thumbs ratings, one per profile and title; change by rating again, or remove."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from pymongo.asynchronous.database import AsyncDatabase

from api.wire import utc_now
from core.storage import Document

Thumbs = Literal["thumbs_down", "thumbs_up", "two_thumbs_up"]

# How much each rating says about taste; recommendations use these as signal weights.
TASTE = {"thumbs_down": -2.0, "thumbs_up": 1.5, "two_thumbs_up": 2.5}


class Rating(msgspec.Struct, kw_only=True):
    title_id: str
    rating: Thumbs
    rated_at: datetime


async def put(
    db: AsyncDatabase[Document], *, account_id: str, profile_id: str, title_id: str, rating: Thumbs
) -> None:
    await db.ratings.update_one(
        {"_id": f"{profile_id}:{title_id}"},
        {
            "$set": {"rating": rating, "rated_at": utc_now()},
            "$setOnInsert": {
                "profile_id": profile_id,
                "account_id": account_id,
                "title_id": title_id,
            },
        },
        upsert=True,
    )


async def remove(db: AsyncDatabase[Document], *, profile_id: str, title_id: str) -> bool:
    result = await db.ratings.delete_one({"_id": f"{profile_id}:{title_id}"})
    return result.deleted_count == 1


async def for_profile(db: AsyncDatabase[Document], *, profile_id: str) -> list[Rating]:
    cursor = db.ratings.find({"profile_id": profile_id}).sort("rated_at", -1)
    return [msgspec.convert(doc, Rating) async for doc in cursor]
