"""Memory a shard holds per active session (session + lease + buffered progress), in-process."""

from __future__ import annotations

import tracemalloc

from actors.state import Changes, ShardState
from core.protocol import Heartbeat, Position, StartSession


def bytes_per_session(count: int = 10_000) -> float:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    shard = ShardState()
    for i in range(count):
        account = f"acc_{i:08x}"
        changes = Changes()
        shard.apply(
            StartSession(
                account_id=account,
                now_ms=0,
                session_id=f"ps_{i:020x}",
                profile_id=f"prof_{i:016x}",
                title_id="t_000001",
                asset_id="a_000001_m",
                device_id=f"d{i:08x}",
                platform="tv",
                max_streams=4,
                lease_ttl_ms=60_000,
                duration_ms=6_000_000,
            ),
            changes,
        )
        shard.apply(
            Heartbeat(
                account_id=account,
                now_ms=1,
                position=Position(
                    profile_id=f"prof_{i:016x}",
                    title_id="t_000001",
                    asset_id="a_000001_m",
                    position_ms=1000,
                    duration_ms=6_000_000,
                    state="playing",
                    client_ts_ms=1,
                ),
                session_id=f"ps_{i:020x}",
            ),
            changes,
        )
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    allocated = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(shard.sessions) == count
    return allocated / count


if __name__ == "__main__":
    print(f"{bytes_per_session():,.0f} bytes per active session")
