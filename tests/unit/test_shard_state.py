"""Shard decisions without Ray: stream limits, same-device restart, leases, progress ordering."""

from __future__ import annotations

from actors.state import Changes, ShardState
from core.protocol import (
    Done,
    GetSession,
    Heartbeat,
    Position,
    Refused,
    StartSession,
    StopSession,
    Touch,
)

TTL = 60_000


def start(
    session_id: str, device: str, now: int = 0, limit: int = 2, account: str = "acc"
) -> StartSession:
    return StartSession(
        account_id=account,
        now_ms=now,
        session_id=session_id,
        profile_id="p",
        title_id="t",
        asset_id="a",
        device_id=device,
        platform="tv",
        max_streams=limit,
        lease_ttl_ms=TTL,
        duration_ms=100_000,
    )


def beat(
    ts: int, position: int, now: int = 0, state: str = "playing", session: str | None = None
) -> Heartbeat:
    return Heartbeat(
        account_id="acc",
        now_ms=now,
        position=Position(
            profile_id="p",
            title_id="t",
            asset_id="a",
            position_ms=position,
            duration_ms=100_000,
            state=state,  # type: ignore[arg-type]
            client_ts_ms=ts,
        ),
        session_id=session,
    )


def test_limit_refuses_with_active_streams_and_same_device_replaces() -> None:
    shard, changes = ShardState(), Changes()
    assert isinstance(shard.apply(start("s1", "tv"), changes), Done)
    assert isinstance(shard.apply(start("s2", "phone"), changes), Done)
    refused = shard.apply(start("s3", "tablet"), changes)
    assert isinstance(refused, Refused) and refused.code == "STREAM_LIMIT_REACHED"
    assert [s.session_id for s in refused.active] == ["s1", "s2"]
    replaced = shard.apply(start("s4", "tv", now=5), changes)
    assert isinstance(replaced, Done)
    assert sorted(s.session_id for s in shard.active("acc")) == ["s2", "s4"]
    assert "s1" in changes.ended and "s4" in changes.sessions


def test_retried_start_is_the_same_decision() -> None:
    shard = ShardState()
    first = shard.apply(start("s1", "tv", limit=1), Changes())
    again = shard.apply(start("s1", "tv", limit=1), Changes())
    assert isinstance(first, Done) and isinstance(again, Done) and again.session == first.session


def test_lease_expiry_frees_the_slot_and_heartbeats_renew_it() -> None:
    shard = ShardState()
    shard.apply(start("s1", "tv", limit=1), Changes())
    shard.apply(beat(ts=1, position=1000, now=50_000), Changes())  # renews to 110_000
    assert isinstance(shard.apply(start("s2", "phone", now=100_000, limit=1), Changes()), Refused)
    changes = Changes()
    assert [s.session_id for s in shard.expire(110_000, changes)] == ["s1"]
    assert changes.ended == {"s1"}
    assert isinstance(shard.apply(start("s2", "phone", now=110_001, limit=1), Changes()), Done)
    assert isinstance(
        shard.apply(
            Touch(account_id="acc", now_ms=1, session_id="s1", lease_ttl_ms=TTL), Changes()
        ),
        Refused,
    )


def test_progress_never_moves_back_in_player_time() -> None:
    shard = ShardState()
    assert shard.apply(beat(ts=10, position=5_000), Changes()).accepted  # type: ignore[union-attr]
    old = shard.apply(beat(ts=5, position=1_000), Changes())
    assert isinstance(old, Done) and not old.accepted
    replay = shard.apply(beat(ts=10, position=9_000), Changes())
    assert isinstance(replay, Done) and not replay.accepted
    assert shard.buffer[("p", "a")].position_ms == 5_000 and shard.buffer[("p", "a")].version == 1


def test_watched_at_finished_or_past_95_percent() -> None:
    shard = ShardState()
    shard.apply(beat(ts=1, position=94_000), Changes())
    assert not shard.buffer[("p", "a")].watched
    shard.apply(beat(ts=2, position=95_000), Changes())
    assert shard.buffer[("p", "a")].watched
    shard.apply(beat(ts=3, position=10, state="finished"), Changes())
    assert shard.buffer[("p", "a")].watched


def test_a_finish_is_counted_once_not_on_every_heartbeat_past_95_percent() -> None:
    shard = ShardState()
    finished = []
    for ts, position in ((1, 90_000), (2, 95_000), (3, 96_000), (4, 99_000), (5, 100_000)):
        changes = Changes()
        result = shard.apply(beat(ts=ts, position=position), changes)
        assert isinstance(result, Done)
        finished.append((result.finished, changes.finishes))
    # Only the update that made the asset watched is a finish (trending, co-watching).
    assert finished == [(False, []), (True, ["t"]), (False, []), (False, []), (False, [])]
    replayed = Changes()
    result = shard.apply(beat(ts=2, position=95_000), replayed)  # an old update again
    assert isinstance(result, Done) and not result.finished and not replayed.finishes


def test_flush_keeps_entries_updated_meanwhile_dirty() -> None:
    shard = ShardState()
    shard.apply(beat(ts=1, position=1), Changes())
    written = {key: shard.buffer[key] for key in shard.dirty}
    shard.apply(beat(ts=2, position=2), Changes())  # arrives while MongoDB is being written
    shard.flushed(written, now_ms=0)
    assert ("p", "a") in shard.dirty
    shard.flushed({key: shard.buffer[key] for key in shard.dirty}, now_ms=0)
    assert not shard.dirty


def test_stop_and_get() -> None:
    shard = ShardState()
    shard.apply(start("s1", "tv"), Changes())
    assert isinstance(
        shard.apply(GetSession(account_id="acc", now_ms=1, session_id="s1"), Changes()), Done
    )
    assert isinstance(
        shard.apply(GetSession(account_id="other", now_ms=1, session_id="s1"), Changes()), Refused
    )
    changes = Changes()
    stopped = shard.apply(StopSession(account_id="acc", now_ms=2, session_id="s1"), changes)
    assert isinstance(stopped, Done) and stopped.session is not None and changes.ended == {"s1"}
    assert not shard.active("acc")


def test_restore_drops_expired_sessions_and_keeps_progress_dirty() -> None:
    shard = ShardState()
    shard.apply(start("s1", "tv"), Changes())
    shard.apply(beat(ts=1, position=7), Changes())
    sessions, progress = list(shard.sessions.values()), list(shard.buffer.values())
    again = ShardState()
    again.restore(sessions, progress, now_ms=TTL + 1)
    assert not again.sessions and again.dirty == {("p", "a")}
    fresh = ShardState()
    fresh.restore(sessions, progress, now_ms=1)
    assert list(fresh.sessions) == ["s1"]


def test_player_events_renew_the_lease_count_qoe_and_queue_for_storage() -> None:
    from core.protocol import PlayerEvent

    shard = ShardState()
    shard.apply(start("s1", "tv"), Changes())

    def event(name: str, ts: int, now: int, **metrics: int) -> PlayerEvent:
        return PlayerEvent(
            account_id="acc",
            now_ms=now,
            session_id="s1",
            event=name,
            ts_ms=ts,
            metrics=metrics,
            lease_ttl_ms=TTL,
        )

    changes = Changes()
    shard.apply(event("rebuffer_start", 1_000, 50_000), changes)
    shard.apply(event("rebuffer_end", 1_750, 50_001), changes)
    shard.apply(event("bitrate_change", 2_000, 50_002, bitrate_kbps=1200), changes)
    session = shard.sessions["s1"]
    assert (
        session.rebuffers,
        session.rebuffer_ms,
        session.bitrate_changes,
        session.bitrate_kbps,
    ) == (1, 750, 1, 1200)
    assert session.lease_expires_ms == 50_002 + TTL
    assert [e["event"] for e in changes.events] == [
        "rebuffer_start",
        "rebuffer_end",
        "bitrate_change",
    ]
    assert len({e["_id"] for e in changes.events}) == 3
    assert isinstance(shard.apply(event("play", 1, 200_000), Changes()), Refused)  # lease gone


def test_a_playing_position_is_written_at_most_once_per_persist_interval() -> None:
    shard = ShardState()
    shard.apply(beat(ts=1, position=1_000, now=0), Changes())
    first = shard.due(now_ms=0, persist_every_ms=120_000)
    assert list(first) == [("p", "a")]  # never persisted: goes out at once
    shard.flushed(first, now_ms=0)
    for second in range(1, 11):  # ten heartbeats, one every 10 s, still playing
        shard.apply(
            beat(ts=1 + second, position=1_000 + second * 5_000, now=second * 10_000), Changes()
        )
        assert shard.due(now_ms=second * 10_000, persist_every_ms=120_000) == {}
    # A pause waits like playing: a new session asks the shard, not MongoDB, where to resume.
    shard.apply(beat(ts=20, position=60_000, now=110_000, state="paused"), Changes())
    assert shard.due(now_ms=110_000, persist_every_ms=120_000) == {}
    assert list(shard.due(now_ms=120_000, persist_every_ms=120_000)) == [("p", "a")]
    shard.apply(beat(ts=21, position=61_000, now=121_000, state="finished"), Changes())
    assert list(shard.due(now_ms=121_000, persist_every_ms=120_000)) == [
        ("p", "a")
    ]  # a finish is news: history shows it at the next flush


def test_a_started_session_carries_the_shards_fresher_position() -> None:
    shard = ShardState()
    shard.apply(beat(ts=1, position=42_000, now=0), Changes())
    started = shard.apply(start("s2", "d2", now=1_000), Changes())
    assert isinstance(started, Done) and started.progress is not None
    assert started.progress.position_ms == 42_000
