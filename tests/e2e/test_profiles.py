"""Seed A "User Profiles" over HTTP: CRUD, the cap of 5, kids cap, and BOLA on every route."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.helpers import register

pytestmark = pytest.mark.e2e


async def test_profile_crud_and_the_cap_of_five(client: httpx.AsyncClient) -> None:
    user = await register(client)
    listed = (await client.get("/v1/users/profiles", headers=user.auth)).json()["profiles"]
    assert len(listed) == 1
    assert set(listed[0]) >= {"id", "name", "avatar_url", "is_kids", "language", "maturity_rating"}

    created = await client.post(
        "/v1/users/profiles",
        headers=user.auth,
        json={"name": "Kid", "is_kids": True, "language": "sr-RS"},
    )
    assert created.status_code == 201
    kid = created.json()
    assert (kid["is_kids"], kid["maturity_rating"], kid["language"]) == (True, "TV-PG", "sr-RS")

    renamed = await client.put(
        f"/v1/users/profiles/{kid['id']}", headers=user.auth, json={"name": "Little One"}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Little One"
    too_mature = await client.put(
        f"/v1/users/profiles/{kid['id']}", headers=user.auth, json={"maturity_rating": "TV-MA"}
    )
    assert (
        too_mature.status_code == 400 and "maturity_rating" in too_mature.json()["error"]["details"]
    )

    for index in range(3):
        made = await client.post(
            "/v1/users/profiles", headers=user.auth, json={"name": f"P{index}"}
        )
        assert made.status_code == 201
    sixth = await client.post(
        "/v1/users/profiles", headers=user.auth, json={"name": "One too many"}
    )
    assert sixth.status_code == 409 and sixth.json()["error"]["code"] == "PROFILE_LIMIT_REACHED"

    deleted = await client.delete(f"/v1/users/profiles/{kid['id']}", headers=user.auth)
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/users/profiles/{kid['id']}", headers=user.auth)
    assert gone.status_code == 404
    assert len((await client.get("/v1/users/profiles", headers=user.auth)).json()["profiles"]) == 4
    assert (
        await client.post("/v1/users/profiles", headers=user.auth, json={"name": "Back"})
    ).status_code == 201


async def test_another_accounts_profile_is_404_on_every_route(client: httpx.AsyncClient) -> None:
    owner, intruder = await register(client), await register(client)
    (profile,) = (await client.get("/v1/users/profiles", headers=owner.auth)).json()["profiles"]
    path = f"/v1/users/profiles/{profile['id']}"
    attempts = [
        await client.get(path, headers=intruder.auth),
        await client.put(path, headers=intruder.auth, json={"name": "pwned"}),
        await client.delete(path, headers=intruder.auth),
    ]
    for response in attempts:
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    missing = await client.get("/v1/users/profiles/prof_doesnotexist", headers=intruder.auth)
    assert missing.json()["error"] == attempts[0].json()["error"] | {
        "message": missing.json()["error"]["message"],
        "details": missing.json()["error"]["details"],
    }
    still = (await client.get(path, headers=owner.auth)).json()
    assert still == profile


async def test_the_last_profile_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    user = await register(client)
    (profile,) = (await client.get("/v1/users/profiles", headers=user.auth)).json()["profiles"]
    refused = await client.delete(f"/v1/users/profiles/{profile['id']}", headers=user.auth)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "CONFLICT"
