"""The stable hash from account to shard, shared by the ingress and the pool (no Ray here)."""

from __future__ import annotations

import zlib


def shard_of(account_id: str, count: int) -> int:
    """Stable across processes and restarts (unlike ``hash()``, which Python salts)."""
    return zlib.crc32(account_id.encode()) % count
