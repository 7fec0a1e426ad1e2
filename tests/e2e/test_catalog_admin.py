"""Admin catalog edits: admin-only, validated, and visible in search within seconds."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from redis import Redis

from api.catalog.store import CHANGES_STREAM
from core.config import Settings
from stack.local import LocalStack
from tests.e2e.helpers import register

pytestmark = pytest.mark.e2e


async def _admin(client: httpx.AsyncClient) -> dict[str, str]:
    settings = Settings.from_env()
    login = await client.post(
        "/v1/auth/login", json={"email": settings.admin_email, "password": settings.admin_password}
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _search_ids(client: httpx.AsyncClient, auth: dict[str, str], q: str) -> list[str]:
    body = (await client.get("/v1/search", headers=auth, params={"q": q, "limit": 10})).json()
    return [r["id"] for r in body["results"]]


async def _eventually(check: object, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.25)):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.25)
    pytest.fail("the change did not reach search in time")


def _give_media(stack: LocalStack, title_id: str) -> None:
    """What a finished ingest job does (tests/e2e/test_ingest.py runs the real one): point the
    title at ready media, here a demo asset's, and announce the change."""
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    redis = Redis.from_url(stack.env()["REDIS_URL"])
    try:
        demo = mongo.streaming.assets.find_one({"season": None})
        assert demo is not None
        mongo.streaming.titles.update_one({"_id": title_id}, {"$set": {"asset_id": demo["_id"]}})
        redis.xadd(CHANGES_STREAM, {"ids": title_id})
    finally:
        mongo.close()
        redis.close()


async def test_create_publish_edit_delete_show_up_in_search(
    client: httpx.AsyncClient, stack: LocalStack
) -> None:
    admin = await _admin(client)
    viewer = await register(client)
    word = f"zyx{secrets.token_hex(3)}"
    shell = {
        "name": f"The {word} Affair",
        "type": "movie",
        "genres": ["thriller"],
        "maturity_rating": "PG-13",
        "release_year": 2026,
        "cast": ["Ada Lovelace"],
    }
    refused = await client.post("/v1/admin/titles", headers=viewer.auth, json=shell)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    bad = await client.post("/v1/admin/titles", headers=admin, json={**shell, "genres": ["nope"]})
    assert bad.status_code == 400 and bad.json()["error"]["details"].startswith("genres")

    created = await client.post("/v1/admin/titles", headers=admin, json=shell)
    assert created.status_code == 201
    title_id = created.json()["title_id"]
    await asyncio.sleep(2)
    assert title_id not in await _search_ids(client, viewer.auth, word)  # not published yet
    no_media = await client.post(
        f"/v1/admin/publish/{title_id}", headers=admin, json={"countries": ["US"]}
    )
    assert no_media.status_code == 409 and no_media.json()["error"]["code"] == "CONFLICT"
    _give_media(stack, title_id)

    published = await client.post(
        f"/v1/admin/publish/{title_id}", headers=admin, json={"countries": ["US", "GB"]}
    )
    assert published.status_code == 200

    async def findable() -> bool:
        return title_id in await _search_ids(client, viewer.auth, word)

    await _eventually(findable)
    renamed = f"qwv{secrets.token_hex(3)}"
    edit = await client.put(
        f"/v1/admin/content/{title_id}", headers=admin, json={"title": f"{renamed} Returns"}
    )
    assert edit.status_code == 200 and edit.json()["name"] == f"{renamed} Returns"

    async def renamed_found() -> bool:
        return title_id in await _search_ids(client, viewer.auth, renamed)

    await _eventually(renamed_found)
    assert (await client.delete(f"/v1/admin/content/{title_id}", headers=admin)).status_code == 204

    async def gone() -> bool:  # from every replica: several answers in a row
        for _ in range(6):
            page = await client.get(f"/v1/titles/{title_id}", headers=viewer.auth)
            if page.status_code != 404 or title_id in await _search_ids(
                client, viewer.auth, renamed
            ):
                return False
        return True

    await _eventually(gone)
