"""The playback hot path over HTTP: sessions, stream limits, leases, progress, history, and a
shard killed mid-stream. The stack runs with a 6 s lease and a 1 s flush (see conftest)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from actors.pool import shard_name
from actors.routing import shard_of
from stack.local import LocalStack
from tests.e2e.helpers import User, first_title, register

pytestmark = pytest.mark.e2e

SHARDS = 2  # ray_config.yaml's shard_count


async def _profile(client: httpx.AsyncClient, user: User, **fields: object) -> str:
    if fields:
        made = await client.post(
            "/v1/users/profiles", headers=user.auth, json={"name": "P", **fields}
        )
        return str(made.json()["id"])
    profiles = (await client.get("/v1/users/profiles", headers=user.auth)).json()["profiles"]
    return str(profiles[0]["id"])


def _session(profile: str, title: str, device: str, **extra: object) -> dict[str, object]:
    return {
        "profile_id": profile,
        "title_id": title,
        "device": {"device_id": device, "platform": "tv"},
        **extra,
    }


async def test_session_shape_and_every_plan_limit(client: httpx.AsyncClient) -> None:
    for plan, limit in (("basic", 1), ("standard", 2), ("premium", 4)):
        user = await register(client, plan=plan)
        profile = await _profile(client, user)
        movie = await first_title(client, user, type="movie")
        for device in range(limit):
            made = await client.post(
                "/v1/playback/sessions",
                headers=user.auth,
                json=_session(profile, movie["id"], f"d{device}"),
            )
            assert made.status_code == 201, made.text
        body = made.json()
        assert body["session_id"].startswith("ps_") and body["manifest"]["type"] == "dash"
        assert "sig=" in body["manifest"]["url"] and body["manifest"]["expires_in_sec"] == 120
        assert body["drm"]["key_system"] == "org.w3.clearkey" and body["drm"][
            "license_token"
        ].startswith("lt_")
        assert set(body["cdn"]) == {"provider", "region"}
        over = await client.post(
            "/v1/playback/sessions",
            headers=user.auth,
            json=_session(profile, movie["id"], "one-more"),
        )
        assert over.status_code == 409 and over.json()["error"]["code"] == "STREAM_LIMIT_REACHED"
        active = over.json()["error"]["details"]
        assert len(active) == limit and {a["device_id"] for a in active} == {
            f"d{i}" for i in range(limit)
        }
        assert set(active[0]) >= {"device_id", "profile_id", "title_id", "started_at"}


async def test_ten_racing_starts_on_a_basic_account_yield_exactly_one(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client, plan="basic")
    profile = await _profile(client, user)
    movie = await first_title(client, user, type="movie")
    attempts = await asyncio.gather(
        *(
            client.post(
                "/v1/playback/sessions",
                headers=user.auth,
                json=_session(profile, movie["id"], f"racer-{i}"),
            )
            for i in range(10)
        )
    )
    assert sorted(a.status_code for a in attempts) == [201] + [409] * 9


async def test_same_device_restart_replaces_and_stop_frees_the_slot(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client, plan="basic")
    profile = await _profile(client, user)
    movie = await first_title(client, user, type="movie")
    first = await client.post(
        "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "tv-1")
    )
    again = await client.post(
        "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "tv-1")
    )
    assert first.status_code == again.status_code == 201
    other = await client.post(
        "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "phone")
    )
    assert other.status_code == 409
    assert [a["session_id"] for a in other.json()["error"]["details"]] == [
        again.json()["session_id"]
    ]
    stop = await client.post(
        f"/v1/streaming/{movie['id']}/stop",
        headers=user.auth,
        json={"session_id": again.json()["session_id"]},
    )
    assert stop.status_code == 200
    assert (
        await client.post(
            "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "phone")
        )
    ).status_code == 201
    gone = await client.post(
        f"/v1/streaming/{movie['id']}/stop", headers=user.auth, json={"session_id": "ps_nope"}
    )
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "SESSION_NOT_FOUND"


async def test_lease_expiry_frees_a_slot_heartbeats_keep_it(client: httpx.AsyncClient) -> None:
    user = await register(client, plan="basic")
    profile = await _profile(client, user)
    movie = await first_title(client, user, type="movie")
    made = (
        await client.post(
            "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "tv")
        )
    ).json()
    for second in range(8):  # heartbeats past one lease keep the session alive
        beat = await client.put(
            f"/v1/profiles/{profile}/progress",
            headers=user.auth,
            json={
                "title_id": movie["id"],
                "asset_id": made["asset_id"],
                "position_ms": 1000 * second,
                "state": "playing",
                "session_id": made["session_id"],
            },
        )
        assert beat.status_code == 200
        await asyncio.sleep(1)
    assert (
        await client.post(
            "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "phone")
        )
    ).status_code == 409
    await asyncio.sleep(7)  # no heartbeat for longer than the 6 s lease
    assert (
        await client.post(
            "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "phone")
        )
    ).status_code == 201


async def test_refusals_in_contract_order(client: httpx.AsyncClient) -> None:
    us = await register(client, plan="premium")
    profile = await _profile(client, us)
    kid = await _profile(client, us, is_kids=True)
    assert (
        await client.post(
            "/v1/playback/sessions", headers=us.auth, json=_session("prof_nope", "t_000001", "d")
        )
    ).status_code == 404
    missing = await client.post(
        "/v1/playback/sessions", headers=us.auth, json=_session(profile, "t_nope", "d")
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    mature = await first_title(client, us, rating="TV-MA", type="series", page=1)
    if mature["rating"] not in ("TV-MA", "NC-17", "R"):
        mature = next(
            i
            for i in (
                await client.get("/v1/content/browse", headers=us.auth, params={"limit": 100})
            ).json()["content"]
            if i["rating"] in ("TV-MA", "R", "NC-17")
        )
    refused = await client.post(
        "/v1/playback/sessions", headers=us.auth, json=_session(kid, mature["id"], "d")
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "MATURITY_RESTRICTED"
    # Region comes before maturity: the same request from a country without the title.
    jp = await register(client, country="JP")
    jp_ids = {
        i["id"]
        for i in (
            await client.get(
                "/v1/content/browse", headers=jp.auth, params={"type": "documentary", "limit": 100}
            )
        ).json()["content"]
    }
    us_docs = (
        await client.get(
            "/v1/content/browse", headers=us.auth, params={"type": "documentary", "limit": 100}
        )
    ).json()["content"]
    absent = next(d for d in us_docs if d["id"] not in jp_ids)
    region = await client.post(
        "/v1/playback/sessions",
        headers=us.auth,
        json=_session(profile, absent["id"], "d", network={"country": "JP"}),
    )
    assert region.status_code == 403 and region.json()["error"]["code"] == "NOT_AVAILABLE_IN_REGION"
    bad = await client.post(
        "/v1/playback/sessions",
        headers=us.auth,
        json={
            "profile_id": profile,
            "title_id": absent["id"],
            "device": {"device_id": "d", "platform": "fridge"},
        },
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"].startswith("device.platform")


async def _wait_for(check: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.5)
    pytest.fail("condition not reached in time")


async def test_progress_ordering_continue_watching_and_history(client: httpx.AsyncClient) -> None:
    user = await register(client)
    profile = await _profile(client, user)
    series = await first_title(client, user, type="series")
    started = (
        await client.post(
            "/v1/playback/sessions", headers=user.auth, json=_session(profile, series["id"], "tv")
        )
    ).json()
    asset = started["asset_id"]
    page = (await client.get(f"/v1/titles/{series['id']}", headers=user.auth)).json()
    assert asset == page["seasons"][0]["episodes"][0]["asset_id"]  # next-up for a new profile: S1E1
    url = f"/v1/profiles/{profile}/progress"
    base = {"title_id": series["id"], "asset_id": asset, "state": "playing"}
    assert (
        await client.put(
            url, headers=user.auth, json={**base, "position_ms": 60_000, "ts_ms": 2_000}
        )
    ).json()["accepted"]
    late = await client.put(
        url, headers=user.auth, json={**base, "position_ms": 10_000, "ts_ms": 1_000}
    )
    assert late.json() == {"ok": True, "accepted": False}  # older player time never wins

    async def resumable() -> bool:
        home = (
            await client.get("/v1/home", headers=user.auth, params={"profile_id": profile})
        ).json()
        row = home["rows"][0]["items"]
        return bool(row) and row[0]["title_id"] == series["id"] and row[0]["position_ms"] == 60_000

    await _wait_for(resumable)
    history = (await client.get(f"/v1/users/profiles/{profile}/history", headers=user.auth)).json()
    assert (
        history["history"][0]["content_id"] == series["id"]
        and history["history"][0]["watched"] is False
    )

    await client.put(
        url,
        headers=user.auth,
        json={**base, "position_ms": 61_000, "ts_ms": 3_000, "state": "finished"},
    )

    async def finished() -> bool:
        items = (
            await client.get(f"/v1/users/profiles/{profile}/history", headers=user.auth)
        ).json()["history"]
        return bool(items) and items[0]["watched"] is True

    await _wait_for(finished)
    home = (await client.get("/v1/home", headers=user.auth, params={"profile_id": profile})).json()
    assert series["id"] not in {i["title_id"] for i in home["rows"][0]["items"]}
    after = (
        await client.post(
            "/v1/playback/sessions", headers=user.auth, json=_session(profile, series["id"], "tv")
        )
    ).json()
    assert after["asset_id"] == page["seasons"][0]["episodes"][1]["asset_id"]  # next-up moved on

    deleted = await client.delete(
        f"/v1/users/profiles/{profile}/history/{series['id']}", headers=user.auth
    )
    assert deleted.status_code == 204
    assert series["id"] not in {
        h["content_id"]
        for h in (
            await client.get(f"/v1/users/profiles/{profile}/history", headers=user.auth)
        ).json()["history"]
    }
    too_far = await client.put(url, headers=user.auth, json={**base, "position_ms": 10**9})
    assert too_far.status_code == 400


def _kill_shard(stack: LocalStack, account_id: str) -> None:
    """SIGKILL the process of the shard that owns the account (a crash, not a shutdown)."""
    name = shard_name(shard_of(account_id, SHARDS))
    script = (
        "import os, signal, ray; "
        f"ray.init(address='127.0.0.1:{stack.ports.gcs}', namespace='streaming', logging_level=40); "
        f"pid = ray.get(ray.get_actor('{name}', namespace='streaming').ping.remote())['pid']; "
        "os.kill(pid, signal.SIGKILL); print(pid)"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        env={**os.environ, **stack.env()},
        capture_output=True,
        timeout=120,
    )


async def test_a_killed_shard_loses_no_acknowledged_update_and_keeps_the_limit(
    stack: LocalStack, client: httpx.AsyncClient
) -> None:
    user = await register(client, plan="basic")
    profile = await _profile(client, user)
    movie = await first_title(client, user, type="movie")
    made = (
        await client.post(
            "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "tv")
        )
    ).json()
    url = f"/v1/profiles/{profile}/progress"
    acked: list[int] = []
    killer = asyncio.get_running_loop().run_in_executor(
        None, lambda: (time.sleep(1.5), _kill_shard(stack, user.account_id))
    )
    for step in range(1, 40):
        position = step * 1000
        try:
            beat = await client.put(
                url,
                headers=user.auth,
                json={
                    "title_id": movie["id"],
                    "asset_id": made["asset_id"],
                    "position_ms": position,
                    "state": "playing",
                    "ts_ms": position,
                    "session_id": made["session_id"],
                },
            )
        except httpx.HTTPError:
            continue
        if beat.status_code == 200:
            acked.append(position)
        else:
            assert beat.status_code == 503, beat.text  # refused while recovering, never a 500
        await asyncio.sleep(0.1)
    await killer
    assert acked, "no heartbeat was acknowledged"
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:

        async def persisted() -> bool:
            doc = mongo.streaming.progress.find_one({"_id": f"{profile}:{made['asset_id']}"})
            return doc is not None and doc["position_ms"] >= max(acked)

        await _wait_for(persisted, 30)
    finally:
        mongo.close()
    # The recovered shard rebuilt the lease from its journal: the basic plan's one slot is taken.
    # A replica may still answer 503 (with Retry-After) while the shard restarts; never 201.
    for _ in range(20):
        blocked = await client.post(
            "/v1/playback/sessions",
            headers=user.auth,
            json=_session(profile, movie["id"], "phone"),
        )
        if blocked.status_code != 503:
            break
        assert blocked.headers["retry-after"]
        await asyncio.sleep(float(blocked.headers["retry-after"]))
    assert blocked.status_code == 409, blocked.text


async def test_seed_a_streaming_start_progress_stop(client: httpx.AsyncClient) -> None:
    user = await register(client)
    profile = await _profile(client, user)
    series = await first_title(client, user, type="series")
    started = await client.post(
        f"/v1/streaming/{series['id']}/start",
        headers=user.auth,
        json={"profile_id": profile, "device_type": "web", "quality": "1080p"},
    )
    assert started.status_code == 201
    body = started.json()
    assert body["content_id"] == series["id"] and body["manifest_url"] and body["drm_license_url"]
    progress = await client.put(
        f"/v1/streaming/{series['id']}/progress",
        headers=user.auth,
        json={
            "profile_id": profile,
            "position": 42.5,
            "duration": 3600,
            "session_id": body["session_id"],
        },
    )
    assert progress.json() == {"ok": True, "accepted": True}
    stop = await client.post(
        f"/v1/streaming/{series['id']}/stop",
        headers=user.auth,
        json={"session_id": body["session_id"], "position": 50},
    )
    assert stop.status_code == 200

    async def recorded() -> bool:
        items = (
            await client.get(f"/v1/users/profiles/{profile}/history", headers=user.auth)
        ).json()["history"]
        return (
            bool(items) and items[0]["asset_id"] == body["asset_id"] and items[0]["position"] == 50
        )

    await _wait_for(recorded)
    bad = await client.put(
        f"/v1/streaming/{series['id']}/progress",
        headers=user.auth,
        json={"profile_id": profile, "position": -1},
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"].startswith("position")


async def test_finishing_titles_records_cowatching_for_similar(
    stack: LocalStack, client: httpx.AsyncClient
) -> None:
    import redis as redis_sync

    user = await register(client)
    profile = await _profile(client, user)
    movies = (
        await client.get(
            "/v1/content/browse",
            headers=user.auth,
            params={"type": "movie", "genre": "comedy", "limit": 2},
        )
    ).json()["content"]
    first, second = movies
    for movie in (first, second):
        page = (await client.get(f"/v1/titles/{movie['id']}", headers=user.auth)).json()
        done = await client.put(
            f"/v1/profiles/{profile}/progress",
            headers=user.auth,
            json={
                "title_id": movie["id"],
                "asset_id": page["asset_id"],
                "position_ms": 1000,
                "state": "finished",
            },
        )
        assert done.status_code == 200

        async def in_history(title_id: str = movie["id"]) -> bool:
            items = (
                await client.get(f"/v1/users/profiles/{profile}/history", headers=user.auth)
            ).json()["history"]
            return any(i["content_id"] == title_id and i["watched"] for i in items)

        await _wait_for(in_history)
    client_redis = redis_sync.Redis.from_url(stack.env()["REDIS_URL"])
    try:
        assert client_redis.zscore(f"cowatch:{second['id']}", first["id"]) == 1.0
        assert client_redis.zscore(f"cowatch:{first['id']}", second["id"]) == 1.0
    finally:
        client_redis.close()
    similar = (
        await client.get(
            f"/v1/recommendations/similar/{second['id']}", headers=user.auth, params={"limit": 50}
        )
    ).json()
    assert first["id"] in {c["id"] for c in similar["recommendations"][0]["content"]}


async def test_a_profile_change_is_seen_at_once_by_every_replica(client: httpx.AsyncClient) -> None:
    """Replicas cache profiles; the per-account version makes a write visible to the very next
    request whichever replica answers (HAProxy spreads these over both)."""
    us = await register(client, plan="premium")
    profile = await _profile(client, us, maturity_rating="TV-MA")
    mature = next(
        i
        for i in (
            await client.get("/v1/content/browse", headers=us.auth, params={"limit": 100})
        ).json()["content"]
        if i["rating"] in ("TV-MA", "R", "NC-17")
    )
    for number in range(6):  # warm the cache on every replica
        started = await client.post(
            "/v1/playback/sessions", headers=us.auth, json=_session(profile, mature["id"], "tv")
        )
        assert started.status_code == 201, (number, started.text)
    lowered = await client.put(
        f"/v1/users/profiles/{profile}", headers=us.auth, json={"maturity_rating": "PG"}
    )
    assert lowered.status_code == 200, lowered.text
    for _ in range(6):
        refused = await client.post(
            "/v1/playback/sessions", headers=us.auth, json=_session(profile, mature["id"], "tv")
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "MATURITY_RESTRICTED"
    assert (
        await client.delete(f"/v1/users/profiles/{profile}", headers=us.auth)
    ).status_code == 204
    for _ in range(6):
        gone = await client.put(
            f"/v1/profiles/{profile}/progress",
            headers=us.auth,
            json={"title_id": mature["id"], "asset_id": "x", "position_ms": 1, "state": "playing"},
        )
        assert gone.status_code == 404, gone.text


async def test_declared_country_only_narrows(client: httpx.AsyncClient) -> None:
    """An account in JP declaring US must not unlock a title that only the US has."""
    us, jp = await register(client, country="US"), await register(client, country="JP")

    async def documentary_ids(user: User) -> list[str]:
        page = await client.get(
            "/v1/content/browse", headers=user.auth, params={"type": "documentary", "limit": 100}
        )
        return [item["id"] for item in page.json()["content"]]

    jp_ids = set(await documentary_ids(jp))
    us_only = next(i for i in await documentary_ids(us) if i not in jp_ids)
    profile = await _profile(client, jp)
    widened = await client.post(
        "/v1/playback/sessions",
        headers=jp.auth,
        json=_session(profile, us_only, "d", network={"country": "US"}),
    )
    assert widened.status_code == 403, widened.text
    assert widened.json()["error"]["code"] == "NOT_AVAILABLE_IN_REGION"
    # Seed A's start has no country field at all: the account's country decides there too.
    started = await client.post(
        f"/v1/streaming/{us_only}/start",
        headers=jp.auth,
        json={"profile_id": profile, "device_type": "tv"},
    )
    assert started.status_code == 403
    assert started.json()["error"]["code"] == "NOT_AVAILABLE_IN_REGION"


async def test_a_movie_resumes_from_the_shard_and_else_from_mongodb(
    client: httpx.AsyncClient, stack: LocalStack
) -> None:
    """A restart resumes where the last heartbeat left the movie (the shard's buffer); a
    position only MongoDB holds (written days ago, long out of the shard) resumes too; a
    chosen asset starts at 0."""
    user = await register(client, plan="premium")
    profile = await _profile(client, user)
    movie = await first_title(client, user, type="movie")
    started = await client.post(
        "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "tv-1")
    )
    assert started.status_code == 201 and started.json()["resume_position_ms"] == 0
    session, asset_id = started.json()["session_id"], started.json()["asset_id"]
    beat = await client.put(
        f"/v1/profiles/{profile}/progress",
        headers=user.auth,
        json={
            "title_id": movie["id"],
            "asset_id": asset_id,
            "position_ms": 61_000,
            "state": "playing",
            "ts_ms": 1_000,
            "session_id": session,
        },
    )
    assert beat.status_code == 200, beat.text
    again = await client.post(
        "/v1/playback/sessions", headers=user.auth, json=_session(profile, movie["id"], "tv-1")
    )
    assert again.json()["resume_position_ms"] == 61_000
    chosen = await client.post(
        "/v1/playback/sessions",
        headers=user.auth,
        json=_session(profile, movie["id"], "tv-1", asset_id=asset_id),
    )
    assert chosen.json()["resume_position_ms"] == 0

    other = await _profile(client, user, maturity_rating="TV-MA")
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:
        mongo.streaming.progress.insert_one(
            {
                "_id": f"{other}:{asset_id}",
                "profile_id": other,
                "title_id": movie["id"],
                "asset_id": asset_id,
                "position_ms": 42_000,
                "duration_ms": 10**7,
                "state": "paused",
                "client_ts_ms": 1_000,
                "watched": False,
                "updated_at": datetime(2026, 11, 1, tzinfo=UTC),
            }
        )
    finally:
        mongo.close()
    from_store = await client.post(
        "/v1/playback/sessions", headers=user.auth, json=_session(other, movie["id"], "tv-2")
    )
    assert from_store.status_code == 201, from_store.text
    assert from_store.json()["resume_position_ms"] == 42_000
