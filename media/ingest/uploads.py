"""Raw uploads in the media store (resumable uploads' parts live under one prefix each) and the
sweep that removes abandoned ones."""

from __future__ import annotations

import time

from pymongo.asynchronous.database import AsyncDatabase

from core.storage import Document
from media.store import MediaStore


def upload_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}/"


async def expire_uploads(db: AsyncDatabase[Document], store: MediaStore, ttl_s: int) -> int:
    """Remove unattached uploads untouched for ``ttl_s`` and their bytes (the coordinator runs
    this periodically: abandoned partial uploads must not fill the store)."""
    cutoff = int(time.time()) - ttl_s
    stale = [
        doc["_id"]
        async for doc in db.uploads.find(
            {"updated_at": {"$lt": cutoff}, "attached_to": None}, projection={"_id": 1}
        )
    ]
    for upload_id in stale:
        gone = await db.uploads.delete_one({"_id": upload_id, "attached_to": None})
        if gone.deleted_count:
            await store.delete_prefix(upload_prefix(upload_id))
    return len(stale)
