"""Offline downloads on the real stack: checks, plan limits (raced), licenses, renew, revoke, expiry.

The suite's stack sets ``DOWNLOAD_LICENSE_TTL_S=15``, ``DOWNLOADS_PER_DEVICE=3`` and
``DOWNLOAD_RENEWALS=2`` (tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from pymongo import MongoClient
from redis import Redis

from api.catalog.store import CHANGES_STREAM
from core.config import Settings
from stack.local import LocalStack
from tests.e2e.helpers import (
    User,
    clear_key_challenge,
    decode_errors,
    first_profile,
    first_title,
    register,
)

pytestmark = pytest.mark.e2e

TTL_S = 15
PER_DEVICE = 3
RENEWALS = 2


async def _asset(client: httpx.AsyncClient, user: User, **query: str | int) -> str:
    """The asset of the first matching title: a movie's own, a series' first episode."""
    title = await first_title(client, user, **query)
    page = (await client.get(f"/v1/titles/{title['id']}", headers=user.auth)).json()
    return str(page["asset_id"] or page["seasons"][0]["episodes"][0]["asset_id"])


async def _grant(
    client: httpx.AsyncClient, user: User, profile: str, asset: str, device: str, **extra: object
) -> httpx.Response:
    return await client.post(
        "/v1/downloads",
        headers=user.auth,
        json={"profile_id": profile, "asset_id": asset, "device_id": device, **extra},
    )


async def _downloaded(
    client: httpx.AsyncClient, plan: str
) -> tuple[User, str, str, dict[str, Any]]:
    """A new account of ``plan`` with one download of a movie on its device ``phone``."""
    user = await register(client, plan=plan)
    profile = await first_profile(client, user)
    asset = await _asset(client, user, type="movie")
    made = await _grant(client, user, profile, asset, "phone")
    assert made.status_code == 201, made.text
    return user, profile, asset, made.json()


async def _license(
    client: httpx.AsyncClient, user: User, token: str, kid_hex: str = "ab" * 16
) -> httpx.Response:
    return await client.post(
        "/v1/drm/licenses",
        headers=user.auth,
        json={
            "license_token": token,
            "challenge": clear_key_challenge(kid_hex, "persistent-license"),
        },
    )


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def _listed(client: httpx.AsyncClient, user: User, profile: str) -> dict[str, Any]:
    listed = await client.get("/v1/downloads", headers=user.auth, params={"profile_id": profile})
    assert listed.status_code == 200, listed.text
    return {d["download_id"]: d for d in listed.json()["downloads"]}


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.3)
    pytest.fail("the condition did not hold in time")


async def test_offline_manifest_and_a_persistent_license_that_decrypts(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    user, profile, asset, body = await _downloaded(client, "premium")
    assert body["download_id"].startswith("dl_") and body["state"] == "active"
    assert body["asset_id"] == asset and body["quality"] == "high" and body["title"]
    assert body["renewals_left"] == RENEWALS and body["expires_at"].endswith("Z")
    assert 0 < body["drm"]["expires_in_sec"] <= TTL_S
    assert body["drm"]["key_system"] == "org.w3.clearkey"
    assert "/offline-high.mpd?" in body["manifest_url"]

    async with httpx.AsyncClient(timeout=30) as media:
        mpd = await media.get(body["manifest_url"])
        assert mpd.status_code == 200, mpd.text
        assert mpd.text.count('mimeType="video/') == 1, "one rendition to download"
        kid = re.search(r'cenc:default_KID="([0-9a-f-]+)"', mpd.text)
        init_path = re.search(r'initialization="(v\d+/init\.mp4\?[^"]+)"', mpd.text)
        assert kid is not None and init_path is not None
        kid_hex = kid[1].replace("-", "")
        base = body["manifest_url"].split("offline-high.mpd")[0]
        init_url = base + init_path[1].replace("&amp;", "&")
        init = await media.get(init_url)
        first = await media.get(init_url.replace("init.mp4", "1.m4s"))
        assert init.status_code == first.status_code == 200 and len(first.content) > 1000

        # The offline manifest is served under a download's signature only.
        session = await client.post(
            "/v1/playback/sessions",
            headers=user.auth,
            json={
                "profile_id": profile,
                "title_id": body["title_id"],
                "asset_id": asset,
                "device": {"device_id": "tv", "platform": "tv"},
            },
        )
        assert session.status_code == 201, session.text
        streaming_query = session.json()["manifest"]["url"].split("?", 1)[1]
        assert (await media.get(f"{base}offline-high.mpd?{streaming_query}")).status_code == 403

    granted = await _license(client, user, body["drm"]["license_token"], kid_hex)
    assert granted.status_code == 200, granted.text
    assert 0 < granted.json()["expires_in_sec"] <= TTL_S
    jwks = msgspec.json.decode(base64.b64decode(granted.json()["license"]))
    assert jwks["type"] == "persistent-license"
    (jwk,) = jwks["keys"]
    key_hex = base64.urlsafe_b64decode(jwk["k"] + "==").hex()
    segment = init.content + first.content
    assert decode_errors(key_hex, segment, tmp_path) == ""
    assert "error" in decode_errors("00" * 16, segment, tmp_path)

    assert (await _license(client, user, body["drm"]["license_token"])).status_code == 403
    forged = body["drm"]["license_token"][:-4] + "0000"
    assert _code(await _license(client, user, forged, kid_hex)) == (404, "DOWNLOAD_NOT_FOUND")
    other = await register(client)
    stolen = await _license(client, other, body["drm"]["license_token"], kid_hex)
    assert _code(stolen) == (404, "DOWNLOAD_NOT_FOUND")


async def test_refusals_in_playback_order_and_bad_bodies(client: httpx.AsyncClient) -> None:
    us = await register(client, plan="premium")
    profile = await first_profile(client, us)
    movie = await _asset(client, us, type="movie")
    stranger = await register(client)
    foreign = await _grant(client, us, await first_profile(client, stranger), movie, "d")
    assert foreign.status_code == 404
    assert _code(await _grant(client, us, profile, "a_nope", "d")) == (404, "NOT_FOUND")

    jp = await register(client, country="JP")

    async def documentaries(user: User) -> list[str]:
        page = await client.get(
            "/v1/content/browse", headers=user.auth, params={"type": "documentary", "limit": 100}
        )
        return [item["id"] for item in page.json()["content"]]

    jp_ids = set(await documentaries(jp))
    us_only = next(i for i in await documentaries(us) if i not in jp_ids)
    us_only_asset = (await client.get(f"/v1/titles/{us_only}", headers=us.auth)).json()["asset_id"]
    region = await _grant(client, jp, await first_profile(client, jp), us_only_asset, "d")
    assert _code(region) == (403, "NOT_AVAILABLE_IN_REGION")

    kid = await client.post(
        "/v1/users/profiles", headers=us.auth, json={"name": "Kid", "is_kids": True}
    )
    mature = next(
        item
        for item in (
            await client.get("/v1/content/browse", headers=us.auth, params={"limit": 100})
        ).json()["content"]
        if item["rating"] in ("TV-MA", "R", "NC-17")
    )
    page = (await client.get(f"/v1/titles/{mature['id']}", headers=us.auth)).json()
    mature_asset = page["asset_id"] or page["seasons"][0]["episodes"][0]["asset_id"]
    restricted = await _grant(client, us, kid.json()["id"], mature_asset, "d")
    assert _code(restricted) == (403, "MATURITY_RESTRICTED")

    for body, field in [
        ({"profile_id": profile, "asset_id": movie}, "device_id"),
        ({"profile_id": profile, "asset_id": movie, "device_id": "d", "extra": 1}, "extra"),
        ({"profile_id": profile, "asset_id": movie, "device_id": "d", "quality": "4k"}, "quality"),
        ({"profile_id": profile, "asset_id": 7, "device_id": "d"}, "asset_id"),
        ({"profile_id": profile, "asset_id": movie, "device_id": "x" * 65}, "device_id"),
    ]:
        bad = await client.post("/v1/downloads", headers=us.auth, json=body)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.json()["error"]["details"].startswith(field), (body, bad.text)
    malformed = await client.post("/v1/downloads", headers=us.auth, content=b"{nope")
    assert malformed.status_code == 400
    unlisted = await client.get("/v1/downloads", headers=us.auth)
    assert unlisted.status_code == 400 and unlisted.json()["error"]["details"].startswith(
        "profile_id"
    )
    no_token = await client.post(
        "/v1/drm/licenses",
        headers=us.auth,
        json={"challenge": clear_key_challenge("ab" * 16, "persistent-license")},
    )
    assert no_token.status_code == 400 and "session_id" in no_token.json()["error"]["details"]


async def test_device_limits_per_plan_and_per_device(client: httpx.AsyncClient) -> None:
    for plan, devices in (("basic", 1), ("standard", 2), ("premium", 6)):
        user = await register(client, plan=plan)
        profile = await first_profile(client, user)
        asset = await _asset(client, user, type="movie")
        for n in range(devices):
            made = await _grant(client, user, profile, asset, f"dev-{n}")
            assert made.status_code == 201, (plan, made.text)
        refused = await _grant(client, user, profile, asset, "one-too-many")
        assert _code(refused) == (409, "DOWNLOAD_LIMIT_REACHED"), plan
        holders = {d["device_id"] for d in refused.json()["error"]["details"]}
        assert holders == {f"dev-{n}" for n in range(devices)}

    # The device already holding downloads may add up to DOWNLOADS_PER_DEVICE of them.
    user = await register(client, plan="basic")
    profile = await first_profile(client, user)
    asset = await _asset(client, user, type="movie")
    held = [
        (await _grant(client, user, profile, asset, "tablet")).json() for _ in range(PER_DEVICE)
    ]
    full = await _grant(client, user, profile, asset, "tablet")
    assert _code(full) == (409, "DEVICE_DOWNLOAD_LIMIT_REACHED")
    # Revoking frees at once: one revoked → the device takes another; all revoked → a new device.
    delete = await client.delete(f"/v1/downloads/{held[0]['download_id']}", headers=user.auth)
    assert delete.status_code == 204
    assert (await _grant(client, user, profile, asset, "tablet")).status_code == 201
    assert _code(await _grant(client, user, profile, asset, "laptop"))[0] == 409
    for download in (await _listed(client, user, profile)).values():
        await client.delete(f"/v1/downloads/{download['download_id']}", headers=user.auth)
    assert (await _grant(client, user, profile, asset, "laptop")).status_code == 201


async def test_ten_racing_grants_on_a_basic_account_leave_one_device(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client, plan="basic")
    profile = await first_profile(client, user)
    asset = await _asset(client, user, type="movie")
    answers = await asyncio.gather(
        *(_grant(client, user, profile, asset, f"racer-{n}") for n in range(10))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 9, [a.text for a in answers]
    assert all(
        a.json()["error"]["code"] == "DOWNLOAD_LIMIT_REACHED"
        for a in answers
        if a.status_code == 409
    )
    listed = await _listed(client, user, profile)
    assert len({d["device_id"] for d in listed.values()}) == 1 and len(listed) == 1


async def test_revoke_refuses_the_license_and_other_accounts_get_404(
    client: httpx.AsyncClient,
) -> None:
    user, profile, _, body = await _downloaded(client, "standard")
    download_id, token = body["download_id"], body["drm"]["license_token"]

    other = await register(client)
    other_profile = await first_profile(client, other)
    for response in (
        await client.delete(f"/v1/downloads/{download_id}", headers=other.auth),
        await client.post(f"/v1/downloads/{download_id}/renew", headers=other.auth),
        await _license(client, other, token),
        await client.delete("/v1/downloads/dl_does_not_exist", headers=user.auth),
        await client.post("/v1/downloads/dl_does_not_exist/renew", headers=user.auth),
    ):
        assert _code(response) == (404, "DOWNLOAD_NOT_FOUND"), response.text
    assert (
        await client.get("/v1/downloads", headers=other.auth, params={"profile_id": profile})
    ).status_code == 404
    assert download_id not in await _listed(client, other, other_profile)
    assert (await _listed(client, user, profile))[download_id]["state"] == "active"

    kid_hex = await _kid_of(body["manifest_url"])
    assert (await _license(client, user, token, kid_hex)).status_code == 200
    assert (
        await client.delete(f"/v1/downloads/{download_id}", headers=user.auth)
    ).status_code == 204
    assert (
        await client.delete(f"/v1/downloads/{download_id}", headers=user.auth)
    ).status_code == 204
    assert _code(await _license(client, user, token, kid_hex)) == (403, "DOWNLOAD_REVOKED")
    renewed = await client.post(f"/v1/downloads/{download_id}/renew", headers=user.auth)
    assert _code(renewed) == (403, "DOWNLOAD_REVOKED")
    assert (await _listed(client, user, profile))[download_id]["state"] == "revoked"


async def _kid_of(manifest_url: str) -> str:
    async with httpx.AsyncClient(timeout=30) as media:
        mpd = await media.get(manifest_url)
    assert mpd.status_code == 200, mpd.text
    kid = re.search(r'cenc:default_KID="([0-9a-f-]+)"', mpd.text)
    assert kid is not None
    return kid[1].replace("-", "")


async def test_renewals_extend_the_license_up_to_the_limit(client: httpx.AsyncClient) -> None:
    user, profile, _, body = await _downloaded(client, "standard")
    download_id = body["download_id"]
    await asyncio.sleep(1.1)
    previous = body
    for left in range(RENEWALS - 1, -1, -1):
        renewed = await client.post(f"/v1/downloads/{download_id}/renew", headers=user.auth)
        assert renewed.status_code == 200, renewed.text
        fresh = renewed.json()
        assert fresh["renewals_left"] == left and fresh["download_id"] == download_id
        assert fresh["expires_at_ms"] > previous["expires_at_ms"]
        assert fresh["manifest_url"] != previous["manifest_url"]  # signed to the new expiry
        assert fresh["drm"]["license_token"] == body["drm"]["license_token"]
        previous = fresh
        await asyncio.sleep(1.1)
    spent = await client.post(f"/v1/downloads/{download_id}/renew", headers=user.auth)
    assert _code(spent) == (409, "RENEWAL_LIMIT_REACHED")
    assert (await _listed(client, user, profile))[download_id]["renewals_left"] == 0


async def test_expiry_refuses_the_license_lists_expired_and_frees_the_slot(
    client: httpx.AsyncClient,
) -> None:
    user, profile, asset, body = await _downloaded(client, "basic")
    kid_hex = await _kid_of(body["manifest_url"])
    token = body["drm"]["license_token"]
    assert (await _license(client, user, token, kid_hex)).status_code == 200
    assert _code(await _grant(client, user, profile, asset, "laptop"))[0] == 409
    await asyncio.sleep(max(0.0, body["expires_at_ms"] / 1000 - time.time()) + 1)
    assert _code(await _license(client, user, token, kid_hex)) == (403, "DOWNLOAD_EXPIRED")
    renewed = await client.post(f"/v1/downloads/{body['download_id']}/renew", headers=user.auth)
    assert _code(renewed) == (403, "DOWNLOAD_EXPIRED")
    listed = (await _listed(client, user, profile))[body["download_id"]]
    assert listed["state"] == "expired" and listed["expired_reason"] == "license"
    async with httpx.AsyncClient(timeout=30) as media:  # the signature expired with the license
        assert (await media.get(body["manifest_url"])).status_code == 403
    assert (await _grant(client, user, profile, asset, "laptop")).status_code == 201


async def _admin(client: httpx.AsyncClient) -> dict[str, str]:
    settings = Settings.from_env()
    login = await client.post(
        "/v1/auth/login", json={"email": settings.admin_email, "password": settings.admin_password}
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _title_with_media(client: httpx.AsyncClient, stack: LocalStack, admin: Any) -> str:
    """An admin's movie with its own asset id (the origin maps it onto a demo clip), in the US."""
    shell = {
        "name": f"Download {secrets.token_hex(3)}",
        "type": "movie",
        "genres": ["drama"],
        "maturity_rating": "PG",
        "release_year": 2026,
    }
    created = await client.post("/v1/admin/titles", headers=admin, json=shell)
    assert created.status_code == 201, created.text
    title_id = str(created.json()["title_id"])
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:
        mongo.streaming.titles.update_one(
            {"_id": title_id}, {"$set": {"asset_id": f"a_dl_{secrets.token_hex(4)}"}}
        )
    finally:
        mongo.close()
    redis = Redis.from_url(stack.env()["REDIS_URL"])
    try:
        redis.xadd(CHANGES_STREAM, {"ids": title_id})
    finally:
        redis.close()
    published = await client.post(
        f"/v1/admin/publish/{title_id}", headers=admin, json={"countries": ["US"]}
    )
    assert published.status_code == 200, published.text
    return title_id


async def test_a_title_leaving_the_region_or_the_catalog_expires_its_downloads(
    client: httpx.AsyncClient, stack: LocalStack
) -> None:
    admin = await _admin(client)
    user = await register(client, plan="premium", country="US")
    profile = await first_profile(client, user)
    moving, leaving = [await _title_with_media(client, stack, admin) for _ in range(2)]
    grants: dict[str, dict[str, Any]] = {}

    async def granted() -> bool:  # a replica that has not seen a title yet answers 404
        for title_id in (moving, leaving):
            if title_id not in grants:
                page = await client.get(f"/v1/titles/{title_id}", headers=user.auth)
                if page.status_code != 200:
                    return False
                made = await _grant(client, user, profile, page.json()["asset_id"], "tablet")
                if made.status_code != 201:
                    return False
                grants[title_id] = made.json()
        return True

    await _eventually(granted)
    kid_hex = await _kid_of(grants[moving]["manifest_url"])
    leaving_kid = await _kid_of(grants[leaving]["manifest_url"])

    moved = await client.post(
        f"/v1/admin/publish/{moving}", headers=admin, json={"countries": ["GB"]}
    )
    assert moved.status_code == 200
    assert (await client.delete(f"/v1/admin/content/{leaving}", headers=admin)).status_code == 204
    outcomes: dict[str, tuple[int, str]] = {}

    async def refused() -> bool:
        for title_id, kid in ((moving, kid_hex), (leaving, leaving_kid)):
            if title_id not in outcomes:
                answer = await _license(client, user, grants[title_id]["drm"]["license_token"], kid)
                if answer.status_code != 200:
                    outcomes[title_id] = _code(answer)
        return len(outcomes) == 2

    await _eventually(refused)
    assert outcomes == {
        moving: (403, "NOT_AVAILABLE_IN_REGION"),
        leaving: (403, "CONTENT_WITHDRAWN"),
    }
    listed = await _listed(client, user, profile)
    assert listed[grants[moving]["download_id"]]["expired_reason"] == "region"
    assert listed[grants[leaving]["download_id"]]["expired_reason"] == "catalog"
    assert {listed[g["download_id"]]["state"] for g in grants.values()} == {"expired"}
