"""Which shard owns an account: jump consistent hashing over a ring that can be resized online.

Shared by the ingress, the shards and the director (no Ray here). Jump consistent hashing
(Lamping & Veach, 2014) maps a key to one of ``count`` buckets so that going from ``n`` to
``n + 1`` buckets moves only the keys the new bucket takes (1/(n+1) of them), and going back
moves only the last bucket's keys; ``crc32 % n`` would move about half of them. Shards are
numbered ``0 … count-1``, so growing adds the highest indices and shrinking removes them,
which is exactly what jump hashing is cheap for.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

import msgspec

RING_KEY = "shards:ring"  # the Redis key every process reads the current ring from

Ownership = Literal["mine", "moving", "elsewhere"]


@lru_cache(maxsize=200_000)
def account_key(account_id: str) -> int:
    """A stable 64-bit key per account (``hash()`` is salted per process, crc32 too short)."""
    return int.from_bytes(hashlib.blake2b(account_id.encode(), digest_size=8).digest(), "big")


def jump(key: int, buckets: int) -> int:
    """Lamping & Veach's jump consistent hash of a 64-bit key into ``range(buckets)``."""
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_of(account_id: str, count: int) -> int:
    return jump(account_key(account_id), count)


class Ring(msgspec.Struct, frozen=True, kw_only=True):
    """The shard layout every process routes by, stored in Redis under :data:`RING_KEY`.

    Stable: ``moving_from`` is None and ``count`` shards own every account. During a resize,
    ``moving_from`` is the old count: an account whose owner differs between the two counts is
    *moving* (its state is on its way to the new owner; its requests answer 503 + Retry-After),
    every other account keeps its shard and is served throughout."""

    epoch: int
    count: int
    moving_from: int | None = None

    @property
    def shards(self) -> int:
        """How many shard actors this ring involves (both layouts while moving)."""
        return max(self.count, self.moving_from or 0)

    def owner(self, account_id: str) -> int:
        return shard_of(account_id, self.count)

    def moving(self, account_id: str) -> bool:
        if self.moving_from is None:
            return False
        key = account_key(account_id)
        return jump(key, self.moving_from) != jump(key, self.count)

    def ownership(self, account_id: str, shard: int) -> Ownership:
        """What shard ``shard`` may do with a request for this account."""
        if self.moving(account_id):
            return "moving"
        return "mine" if self.owner(account_id) == shard else "elsewhere"


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Ring).decode


def dump_ring(ring: Ring) -> bytes:
    return _encode(ring)


def load_ring(raw: bytes | str | None) -> Ring | None:
    return None if raw is None else _decode(raw)
