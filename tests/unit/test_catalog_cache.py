"""The replica's response cache: keyed by snapshot, refreshed on demand, dropped on change."""

from __future__ import annotations

from api.catalog.store import CatalogStore


def test_cached_bodies_replay_until_refresh_or_a_new_snapshot() -> None:
    store = CatalogStore(db=None, redis=None)  # type: ignore[arg-type]
    calls: list[int] = []

    def build() -> bytes:
        calls.append(1)
        return f"body-{len(calls)}".encode()

    assert store.cached("k", build) == b"body-1"
    assert store.cached("k", build) == b"body-1" and len(calls) == 1
    assert store.cached("k", build, refresh=True) == b"body-2"
    assert store.cached("other", build) == b"body-3"
    store._responses.clear()  # what installing a new snapshot does
    assert store.cached("k", build) == b"body-4"
