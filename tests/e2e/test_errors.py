"""Seed A "Error Responses": one envelope, a specific 4xx for bad input, nothing written."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.helpers import register

pytestmark = pytest.mark.e2e


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "timestamp", "request_id"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert len(response.headers.get_list("x-request-id")) == 1
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"{not json", "body"),
        (b'{"name": "ok", "nickname": "x"}', "nickname"),
        (b'{"name": 42}', "name"),
        (b'{"name": "ok", "is_kids": "yes"}', "is_kids"),
        (b'{"name": "ok", "maturity_rating": "X-99"}', "maturity_rating"),
        (b'{"name": "' + b"x" * 51 + b'"}', "name"),
        (b'{"name": "ok", "avatar_url": "javascript:alert(1)"}', "avatar_url"),
        (b"[]", "body"),
    ],
)
async def test_bad_profile_bodies_are_400_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient, content: bytes, field: str
) -> None:
    user = await register(client)
    response = await client.post(
        "/v1/users/profiles",
        headers={**user.auth, "Content-Type": "application/json"},
        content=content,
    )
    error = assert_envelope(response, 400, "INVALID_REQUEST")
    assert str(error["details"]).startswith(f"{field}")
    profiles = (await client.get("/v1/users/profiles", headers=user.auth)).json()["profiles"]
    assert len(profiles) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope", "password": "long-enough"}, "email"),
        ({"email": "a@b.io", "password": "short"}, "password"),
        ({"email": "a@b.io", "password": "long-enough", "plan": "gold"}, "plan"),
        ({"email": "a@b.io", "password": "long-enough", "country": "Serbia"}, "country"),
        ({"email": "a@b.io", "password": "long-enough", "admin": True}, "admin"),
    ],
)
async def test_bad_registrations_are_400_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/v1/auth/register", json=body)
    error = assert_envelope(response, 400, "INVALID_REQUEST")
    assert str(error["details"]).startswith(field)


async def test_unknown_route_404_wrong_method_405_missing_token_401(
    client: httpx.AsyncClient,
) -> None:
    assert_envelope(await client.get("/v1/no/such/thing"), 404, "NOT_FOUND")
    wrong = await client.delete("/v1/auth/login")
    assert_envelope(wrong, 405, "METHOD_NOT_ALLOWED")
    assert wrong.headers["allow"] == "POST"
    assert_envelope(await client.get("/v1/users/profiles"), 401, "UNAUTHORIZED")
    assert_envelope(
        await client.get("/v1/users/profiles", headers={"Authorization": "Bearer not.a.jwt"}),
        401,
        "UNAUTHORIZED",
    )


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    mine = await client.get("/healthz", headers={"X-Request-Id": "trace-abc-123"})
    assert mine.headers["x-request-id"] == "trace-abc-123"
    generated = await client.get("/healthz")
    assert generated.headers["x-request-id"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "mongodb": "ok",
        "redis": "ok",
        "catalog": "ok",
        "actors": "ok",
    }
