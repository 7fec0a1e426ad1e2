"""The clip pool's description: where each clip lives and its Clear Key, and asset → clip."""

from __future__ import annotations

import zlib
from pathlib import Path

import msgspec
from pymongo.asynchronous.database import AsyncDatabase

from core.storage import Document

POOL_VERSION = 1


class Clip(msgspec.Struct, kw_only=True):
    index: int
    key_id: str  # 32 hex digits
    key: str  # 32 hex digits: the content key, handed out only in licenses
    directory: str  # relative to the pool root


class Pool(msgspec.Struct, kw_only=True):
    version: int
    clips: list[Clip]

    def clip_for(self, asset_id: str) -> Clip:
        return self.clips[clip_index(asset_id, len(self.clips))]


def still_key(clip: Clip) -> str:
    """Where a clip's still lives in the media store (demo titles' artwork is drawn on it)."""
    return f"artwork/pool/{clip.directory}.jpg"


def clip_index(asset_id: str, size: int) -> int:
    return zlib.crc32(asset_id.encode()) % size


def manifest_path(root: Path) -> Path:
    return root / "pool.json"


def load(root: Path) -> Pool | None:
    path = manifest_path(root)
    if not path.exists():
        return None
    return msgspec.json.decode(path.read_bytes(), type=Pool)


async def read_media_pool(db: AsyncDatabase[Document]) -> Pool | None:
    """The demo clip pool's description (keys and clip directories) as bootstrap stored it;
    None before the media was packaged. It never changes while the stack runs: keep it."""
    doc = await db.media_pool.find_one({"_id": "pool"}, projection={"_id": 0})
    return None if doc is None else msgspec.convert(doc, Pool)
