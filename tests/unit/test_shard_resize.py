"""Online shard resize without Ray: the ring's routing, a shard's hand-off, the client's re-route."""

from __future__ import annotations

import asyncio
from collections import Counter

from actors.client import GroupCommit
from actors.routing import Ring, dump_ring, jump, load_ring, shard_of
from actors.state import Changes, ShardState
from core.protocol import (
    SHARD_MOVING,
    WRONG_SHARD,
    AnyOp,
    Done,
    Heartbeat,
    Position,
    Refused,
    StartSession,
    decode_ops,
    encode,
)

ACCOUNTS = [f"acc_{i:06x}" for i in range(20_000)]


def test_jump_hash_is_balanced_and_moves_only_what_a_resize_must() -> None:
    for count in (2, 3, 8):
        sizes = Counter(shard_of(a, count) for a in ACCOUNTS).values()
        assert len(sizes) == count and max(sizes) / min(sizes) < 1.1
    for before, after in ((2, 3), (3, 2), (8, 9), (9, 8)):
        moved = [a for a in ACCOUNTS if shard_of(a, before) != shard_of(a, after)]
        grown = max(before, after)
        # Only the added (or removed) shard's accounts move: about 1/grown of them ...
        assert abs(len(moved) / len(ACCOUNTS) - 1 / grown) < 0.02
        # ... and every one of them to (or from) that shard, never between the others.
        assert all(grown - 1 in (shard_of(a, before), shard_of(a, after)) for a in moved)
    modulo_moved = sum(hash(a) % 8 != hash(a) % 9 for a in ACCOUNTS) / len(ACCOUNTS)
    assert modulo_moved > 0.8  # what `% N` would have moved instead


def test_jump_hash_matches_the_published_algorithm_on_known_keys() -> None:
    assert [jump(k, 1) for k in (0, 1, 2**63)] == [0, 0, 0]
    assert all(0 <= jump(k, 7) < 7 for k in range(1000))
    assert jump(123456789, 10) == jump(123456789, 10)  # no per-process salt


def test_ring_ownership_while_moving_and_after() -> None:
    moving = Ring(epoch=2, count=3, moving_from=2)
    stable = Ring(epoch=3, count=3)
    stays = next(a for a in ACCOUNTS if shard_of(a, 2) == shard_of(a, 3))
    moves = next(a for a in ACCOUNTS if shard_of(a, 2) != shard_of(a, 3))
    home = shard_of(stays, 3)
    assert moving.ownership(stays, home) == "mine"
    assert moving.ownership(stays, (home + 1) % 3) == "elsewhere"
    assert {moving.ownership(moves, shard) for shard in range(3)} == {"moving"}
    assert stable.ownership(moves, shard_of(moves, 3)) == "mine"
    assert stable.ownership(moves, shard_of(moves, 2)) == "elsewhere"
    assert moving.shards == 3 and Ring(epoch=4, count=2, moving_from=3).shards == 3
    assert load_ring(dump_ring(moving)) == moving and load_ring(None) is None


def _start(account: str, device: str, now: int = 1_000) -> StartSession:
    return StartSession(
        account_id=account,
        now_ms=now,
        session_id=f"{account}-{device}",
        profile_id=f"p-{account}",
        title_id="t1",
        asset_id="a1",
        device_id=device,
        platform="web",
        max_streams=1,
        lease_ttl_ms=60_000,
        duration_ms=100_000,
    )


def _beat(account: str, position: int, ts: int) -> Heartbeat:
    return Heartbeat(
        account_id=account,
        now_ms=2_000,
        position=Position(
            profile_id=f"p-{account}",
            title_id="t1",
            asset_id="a1",
            position_ms=position,
            duration_ms=100_000,
            state="playing",
            client_ts_ms=ts,
        ),
    )


def test_handoff_moves_leases_and_unflushed_progress_and_the_limit_holds_at_the_new_owner() -> None:
    old, new = ShardState(), ShardState()
    changes = Changes()
    for account in ("a1", "a2"):
        assert isinstance(old.apply(_start(account, "tv"), changes), Done)
        assert isinstance(old.apply(_beat(account, 5_000, 10), changes), Done)
    leaving = {"a1"}.__contains__
    handoff = old.handoff(leaving)
    assert [s.account_id for s in handoff.sessions] == ["a1"]
    assert [e.position_ms for e in handoff.dirty] == [5_000] and not handoff.clean
    assert "a1" in old.by_account  # a copy: nothing dropped before the new owner has it
    parts = old.handoff(lambda account: True).split({"a1": 1, "a2": 2}.__getitem__)
    assert {o: [s.account_id for s in p.sessions] for o, p in parts.items()} == {
        1: ["a1"],
        2: ["a2"],
    }
    assert [e.account_id for e in parts[2].dirty] == ["a2"]
    new.adopt(handoff)
    new.adopt(handoff)  # a repeated hand-off (the director retried) changes nothing
    gone = old.release(leaving)
    assert [s.account_id for s in gone.sessions] == ["a1"]
    assert "a1" not in old.by_account and "a2" in old.by_account
    assert list(new.by_account) == ["a1"] and len(new.sessions) == 1
    # The lease came along: a second device is refused by the new owner, as it was by the old.
    refused = new.apply(_start("a1", "phone"), Changes())
    assert isinstance(refused, Refused) and refused.code == "STREAM_LIMIT_REACHED"
    # The unflushed position came along, still dirty: the new owner flushes it.
    assert new.dirty == {("p-a1", "a1")} and new.buffer[("p-a1", "a1")].position_ms == 5_000
    # An older update (by the player's clock) is still ignored after the move.
    stale = new.apply(_beat("a1", 1_000, 5), Changes())
    assert isinstance(stale, Done) and not stale.accepted


class FakeRing:
    """A router whose ring the test swaps, as a resize would."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self.next: Ring | None = None

    def route(self, account_id: str) -> int:
        return self.ring.owner(account_id)

    async def refresh(self) -> bool:
        if self.next is None:
            return False
        self.ring, self.next = self.next, None
        return True


async def test_the_client_reroutes_once_when_a_shard_names_a_newer_ring() -> None:
    old, new = Ring(epoch=1, count=2), Ring(epoch=3, count=3)
    account = next(a for a in ACCOUNTS if shard_of(a, 2) != shard_of(a, 3))
    sent: list[int] = []
    shard_rings = new  # the shards already committed the new ring

    async def send(shard: int, payload: bytes) -> bytes:
        sent.append(shard)
        results = []
        for op in decode_ops(payload):
            ownership = shard_rings.ownership(op.account_id, shard)
            results.append(Done() if ownership == "mine" else Refused(code=WRONG_SHARD))
        return encode(results)

    router = FakeRing(old)
    router.next = new
    client = GroupCommit(send, router, window_s=0.001)
    result = await client.call(_beat(account, 1, 1))
    assert isinstance(result, Done)
    assert sent == [shard_of(account, 2), shard_of(account, 3)]


async def test_a_moving_account_is_refused_not_applied_and_others_are_served() -> None:
    moving = Ring(epoch=2, count=3, moving_from=2)
    frozen = next(a for a in ACCOUNTS if moving.moving(a))
    served = next(a for a in ACCOUNTS if not moving.moving(a))
    applied: list[AnyOp] = []

    async def send(shard: int, payload: bytes) -> bytes:
        results = []
        for op in decode_ops(payload):
            if moving.ownership(op.account_id, shard) == "mine":
                applied.append(op)
                results.append(Done())
            else:
                results.append(Refused(code=SHARD_MOVING))
        return encode(results)

    client = GroupCommit(send, FakeRing(moving), window_s=0.001)
    results = await asyncio.gather(
        client.call(_beat(frozen, 1, 1)), client.call(_beat(served, 1, 1))
    )
    assert isinstance(results[0], Refused) and results[0].code == SHARD_MOVING
    assert isinstance(results[1], Done)
    assert [op.account_id for op in applied] == [served]
