"""Seed A "Rate Limiting": headers on limited responses, 429 with Retry-After, keyed correctly."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.helpers import new_email, register

pytestmark = pytest.mark.e2e

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


async def test_content_routes_carry_the_three_headers(client: httpx.AsyncClient) -> None:
    user = await register(client)
    first = await client.get("/v1/users/profiles", headers=user.auth)
    second = await client.get("/v1/users/profiles", headers=user.auth)
    assert all(name in first.headers for name in HEADERS)
    assert first.headers["x-ratelimit-limit"] == "1000"
    assert (
        int(second.headers["x-ratelimit-remaining"])
        == int(first.headers["x-ratelimit-remaining"]) - 1
    )


async def test_login_is_limited_per_email_tried_with_retry_after(client: httpx.AsyncClient) -> None:
    email = new_email()
    statuses = []
    for _ in range(10):
        attempt = await client.post(
            "/v1/auth/login", json={"email": email, "password": "guess-123"}
        )
        statuses.append(attempt.status_code)
        assert all(name in attempt.headers for name in HEADERS)
    assert statuses == [401] * 10
    blocked = await client.post("/v1/auth/login", json={"email": email, "password": "guess-123"})
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert blocked.headers["x-ratelimit-remaining"] == "0"
    # The budget is the email's, not the caller's: another email from the same client passes.
    other = await register(client)
    fine = await client.post(
        "/v1/auth/login", json={"email": other.email, "password": other.password}
    )
    assert fine.status_code == 200
