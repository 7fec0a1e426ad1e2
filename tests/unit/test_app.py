"""The request pipeline without Ray: envelope, request ids, auth, outages."""

from __future__ import annotations

import msgspec
import pytest

from api.app import App
from api.deps import Deps
from api.http import Request, Response
from core.config import Settings


def _json(body: bytes) -> dict[str, object]:
    return msgspec.json.decode(body)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def app(deps: Deps) -> App:
    return App(deps)


async def test_errors_use_seed_a_envelope_with_request_id(app: App) -> None:
    response = await app.handle(Request("GET", "/v1/nowhere", headers={"x-request-id": "abc-1"}))
    assert response.status == 404 and response.headers["X-Request-Id"] == "abc-1"
    body = _json(response.body)
    assert set(body) == {"error", "timestamp", "request_id"} and body["request_id"] == "abc-1"
    assert body["error"] == {
        "code": "NOT_FOUND",
        "message": "No route for /v1/nowhere",
        "details": "No route for /v1/nowhere",
    }


async def test_wrong_method_405_and_missing_token_401(app: App) -> None:
    response = await app.handle(Request("PATCH", "/v1/users/profiles"))
    assert response.status == 405 and "GET" in response.headers["Allow"]
    response = await app.handle(Request("GET", "/v1/users/profiles"))
    assert response.status == 401 and _json(response.body)["error"]["code"] == "UNAUTHORIZED"  # type: ignore[index]
    assert response.headers["X-Request-Id"].startswith("req_")


async def test_a_match_made_by_the_ingress_is_used_as_is(app: App) -> None:
    # The ingress matches once (it must know whether the route streams its body) and hands
    # the match over: handle must answer from it, the 404/405 errors included.
    matched = app.match("PATCH", "/v1/users/profiles")
    response = await app.handle(Request("PATCH", "/v1/users/profiles"), matched)
    assert response.status == 405 and "GET" in response.headers["Allow"]
    health = app.match("GET", "/healthz")
    assert not isinstance(health, Exception)
    response = await app.handle(Request("GET", "/some/other/path"), health)
    assert response.status == 200  # answered from the match handed over, not re-matched
    response = await app.handle(Request("GET", "/healthz"), app.match("GET", "/v1/nowhere"))
    assert response.status == 404


async def test_register_validates_and_returns_201(app: App) -> None:
    bad = await app.handle(
        Request("POST", "/v1/auth/register", body=b'{"email": "x@y.io", "password": 1}')
    )
    assert bad.status == 400 and _json(bad.body)["error"]["details"].startswith("password:")  # type: ignore[index]
    good = await app.handle(
        Request(
            "POST",
            "/v1/auth/register",
            body=b'{"email": "app-test@y.io", "password": "long-enough"}',
        )
    )
    assert good.status == 201 and "X-RateLimit-Limit" in good.headers
    token = _json(good.body)["access_token"]
    listed = await app.handle(
        Request("GET", "/v1/users/profiles", headers={"authorization": f"Bearer {token}"})
    )
    assert listed.status == 200 and len(_json(listed.body)["profiles"]) == 1  # type: ignore[arg-type]
    assert listed.headers["X-RateLimit-Limit"] == "1000"


async def test_store_outage_is_503_not_a_hang(settings: Settings) -> None:
    down = msgspec.structs.replace(
        settings,
        mongodb_url="mongodb://127.0.0.1:9/",
        redis_url="redis://127.0.0.1:9/0",
        dependency_timeout_ms=300,
    )
    deps = Deps.build(down)
    try:
        app = App(deps)
        response = await app.handle(
            Request("POST", "/v1/auth/login", body=b'{"email": "a@b.io", "password": "whatever1"}')
        )
        assert (
            response.status == 503
            and _json(response.body)["error"]["code"] == "SERVICE_UNAVAILABLE"
        )  # type: ignore[index]
        ready = await app.handle(Request("GET", "/readyz"))
        assert ready.status == 503
    finally:
        await deps.close()


async def test_admin_routes_refuse_normal_accounts_with_403(deps: Deps) -> None:
    from api.auth import service as auth
    from api.http import Response, Route

    async def secret(req: Request) -> Response:
        return Response(status=200, body=b"{}")

    app = App(
        deps,
        extra_routes=[Route("GET", "/v1/admin/probe", secret, auth="admin", rate_class="content")],
    )
    user = await auth.create_account(
        deps, email="plain-user@y.io", password="long-enough", country="US", plan="basic"
    )
    admin = await auth.create_account(
        deps, email="boss@y.io", password="long-enough", country="US", plan="premium", role="admin"
    )
    for account, status in ((user, 403), (admin, 200)):
        tokens = await deps.tokens.issue(auth.subject_of(account))
        response = await app.handle(
            Request(
                "GET", "/v1/admin/probe", headers={"authorization": f"Bearer {tokens.access_token}"}
            )
        )
        assert response.status == status


async def test_unexpected_exception_is_500_without_internals(
    deps: Deps, caplog: pytest.LogCaptureFixture
) -> None:
    from api.http import Route

    async def broken(req: Request) -> Response:
        raise KeyError("secret-internal-detail")

    app = App(deps, extra_routes=[Route("GET", "/v1/broken", broken, auth="none")])
    response = await app.handle(Request("GET", "/v1/broken", headers={"x-request-id": "boom-1"}))
    assert response.status == 500
    assert b"secret-internal-detail" not in response.body
    assert _json(response.body)["error"]["code"] == "INTERNAL_ERROR"  # type: ignore[index]
    assert any("boom-1" in record.getMessage() for record in caplog.records)
