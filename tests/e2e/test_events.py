"""QoE events renew leases and land in MongoDB in bulk; analytics events; viewing statistics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from stack.local import LocalStack
from tests.e2e.helpers import first_profile, first_title, register

pytestmark = pytest.mark.e2e


async def test_player_events_validate_renew_and_are_stored(
    stack: LocalStack, client: httpx.AsyncClient
) -> None:
    user = await register(client, plan="basic")
    profile = await first_profile(client, user)
    movie = await first_title(client, user, type="movie")
    session = (
        await client.post(
            "/v1/playback/sessions",
            headers=user.auth,
            json={
                "profile_id": profile,
                "title_id": movie["id"],
                "device": {"device_id": "tv", "platform": "tv"},
            },
        )
    ).json()
    sid = session["session_id"]
    events = [
        ("start", {"startup_ms": 850}),
        ("rebuffer_start", {"buffer_ms": 0}),
        ("rebuffer_end", {"buffer_ms": 4000}),
        ("bitrate_change", {"bitrate_kbps": 1200}),
    ]
    for second in range(8):  # events alone keep the 6 s lease alive
        name, metrics = events[second % len(events)]
        sent = await client.post(
            "/v1/playback/events",
            headers=user.auth,
            json={"session_id": sid, "ts_ms": 1_000 * second, "event": name, "metrics": metrics},
        )
        assert sent.status_code == 202, sent.text
        await asyncio.sleep(1)
    taken = await client.post(
        "/v1/playback/sessions",
        headers=user.auth,
        json={
            "profile_id": profile,
            "title_id": movie["id"],
            "device": {"device_id": "phone", "platform": "mobile"},
        },
    )
    assert taken.status_code == 409
    bad = await client.post(
        "/v1/playback/events",
        headers=user.auth,
        json={"session_id": sid, "ts_ms": 1, "event": "explode"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"].startswith("event")
    unknown_metric = await client.post(
        "/v1/playback/events",
        headers=user.auth,
        json={"session_id": sid, "ts_ms": 1, "event": "play", "metrics": {"mood": 3}},
    )
    assert unknown_metric.status_code == 400 and "mood" in unknown_metric.json()["error"]["details"]
    missing = await client.post(
        "/v1/playback/events",
        headers=user.auth,
        json={"session_id": "ps_none", "ts_ms": 1, "event": "play"},
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SESSION_NOT_FOUND"

    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:
        deadline = time.monotonic() + 15
        stored: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            stored = list(mongo.streaming.events.find({"session_id": sid}).sort("ts_ms", 1))
            if len(stored) == 8:
                break
            await asyncio.sleep(0.5)
    finally:
        mongo.close()
    assert [e["event"] for e in stored] == [events[i % 4][0] for i in range(8)]
    assert stored[3]["metrics"] == {"bitrate_kbps": 1200} and stored[0]["profile_id"] == profile


async def test_analytics_events_and_viewing_stats(client: httpx.AsyncClient) -> None:
    user = await register(client)
    profile = await first_profile(client, user)
    event = {
        "event_type": "video_play",
        "profile_id": profile,
        "content_id": "t_000001",
        "timestamp": "2026-01-15T10:30:00Z",
        "metadata": {"device_type": "web", "quality": "1080p", "position": 0},
    }
    accepted = await client.post("/v1/analytics/events", headers=user.auth, json=event)
    assert accepted.status_code == 202 and accepted.json()["event_id"].startswith("ev_")
    assert (
        "x-ratelimit-limit" in accepted.headers and accepted.headers["x-ratelimit-limit"] == "500"
    )
    wrong = await client.post(
        "/v1/analytics/events", headers=user.auth, json={**event, "timestamp": "yesterday"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["details"].startswith("timestamp")
    # The event types are a closed set: an unknown one is refused and names the field.
    unknown = await client.post(
        "/v1/analytics/events",
        headers=user.auth,
        json={**event, "event_type": "definitely_not_an_event"},
    )
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["error"]["code"] == "INVALID_REQUEST"
    assert unknown.json()["error"]["details"].startswith("event_type")
    other = await register(client)
    assert (
        await client.post("/v1/analytics/events", headers=other.auth, json=event)
    ).status_code == 404

    movie = await first_title(client, user, type="movie")
    page = (await client.get(f"/v1/titles/{movie['id']}", headers=user.auth)).json()
    await client.put(
        f"/v1/profiles/{profile}/progress",
        headers=user.auth,
        json={
            "title_id": movie["id"],
            "asset_id": page["asset_id"],
            "position_ms": 30_000,
            "state": "finished",
        },
    )
    stats: dict[str, Any] = {}
    for _ in range(30):
        stats = (
            await client.get(f"/v1/analytics/viewing-stats/{profile}", headers=user.auth)
        ).json()
        if stats["titles_finished"]:
            break
        await asyncio.sleep(0.5)
    assert stats["titles_finished"] == 1 and stats["total_watch_time_seconds"] == movie["duration"]
    assert set(stats["by_genre"]) == set(movie["genre"]) and len(stats["by_day"]) == 1
    assert (
        await client.get(f"/v1/analytics/viewing-stats/{profile}", headers=other.auth)
    ).status_code == 404
