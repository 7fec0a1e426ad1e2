"""Seed A "Authentication" over HTTP on the real stack."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.e2e.helpers import new_email, register

pytestmark = pytest.mark.e2e


async def test_register_login_refresh_reuse_logout(client: httpx.AsyncClient) -> None:
    user = await register(client, plan="premium", country="RS")

    login = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert login.status_code == 200
    body = login.json()
    assert body["user"] == {
        "id": user.account_id,
        "email": user.email,
        "subscription_tier": "premium",
        "country": "RS",
        "role": "user",
    }
    assert body["expires_in"] > 0 and body["token_type"] == "Bearer"

    rotated = await client.post("/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert rotated.status_code == 200
    fresh = rotated.json()
    assert fresh["refresh_token"] != body["refresh_token"]

    # Replaying the old refresh token is theft: it fails and revokes the whole family.
    replay = await client.post("/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "UNAUTHORIZED"
    revoked = await client.post("/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert revoked.status_code == 401
    refused = await client.get(
        "/v1/users/profiles", headers={"Authorization": f"Bearer {fresh['access_token']}"}
    )
    assert refused.status_code == 401

    # Another sign-in is unaffected by that family's revocation, until it logs out.
    again = (
        await client.post("/v1/auth/login", json={"email": user.email, "password": user.password})
    ).json()
    headers = {"Authorization": f"Bearer {again['access_token']}"}
    assert (await client.get("/v1/users/profiles", headers=headers)).status_code == 200
    logout = await client.post("/v1/auth/logout", headers=headers)
    assert logout.status_code == 200
    after = await client.get("/v1/users/profiles", headers=headers)
    assert after.status_code == 401 and after.json()["error"]["code"] == "UNAUTHORIZED"
    dead = await client.post("/v1/auth/refresh", json={"refresh_token": again["refresh_token"]})
    assert dead.status_code == 401


async def test_login_failures_do_not_reveal_accounts(client: httpx.AsyncClient) -> None:
    user = await register(client)
    wrong = await client.post("/v1/auth/login", json={"email": user.email, "password": "nope-nope"})
    unknown = await client.post(
        "/v1/auth/login", json={"email": new_email(), "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


async def test_duplicate_email_is_409_conflict(client: httpx.AsyncClient) -> None:
    user = await register(client)
    again = await client.post(
        "/v1/auth/register", json={"email": user.email.upper(), "password": "another-password"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"


async def test_access_token_verifies_with_the_published_jwks_alone(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    jwks = (await client.get("/v1/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(user.access_token)["kid"]
    (key,) = [k for k in jwks["keys"] if k["kid"] == kid]
    claims = jwt.decode(user.access_token, jwt.PyJWK(key), algorithms=[key["alg"]])
    assert claims["sub"] == user.account_id and claims["typ"] == "access"


async def test_admin_account_is_bootstrapped_with_admin_role(client: httpx.AsyncClient) -> None:
    from core.config import Settings

    settings = Settings.from_env()
    login = await client.post(
        "/v1/auth/login", json={"email": settings.admin_email, "password": settings.admin_password}
    )
    assert login.status_code == 200 and login.json()["user"]["role"] == "admin"
