from __future__ import annotations

import pytest

from api.errors import MethodNotAllowed, NotFound
from api.http import Request, Response, Route, Router


async def _ok(req: Request) -> Response:
    return Response()


def _router() -> Router:
    return Router(
        [
            Route("GET", "/v1/users/profiles", _ok, rate_class="content"),
            Route("PUT", "/v1/users/profiles/{profile_id}", _ok, rate_class="content"),
            Route("GET", "/healthz", _ok, auth="none"),
        ]
    )


def test_static_and_templated_paths_match_with_params() -> None:
    router = _router()
    route, params = router.match("PUT", "/v1/users/profiles/prof_1")
    assert route.template == "/v1/users/profiles/{profile_id}"
    assert params == {"profile_id": "prof_1"}
    assert router.match("GET", "/v1/users/profiles/")[0].template == "/v1/users/profiles"


def test_unknown_path_is_404_and_wrong_method_405_with_allow() -> None:
    router = _router()
    with pytest.raises(NotFound):
        router.match("GET", "/v1/nope")
    with pytest.raises(MethodNotAllowed) as caught:
        router.match("DELETE", "/v1/users/profiles")
    assert caught.value.headers["Allow"] == "GET"


def test_authenticated_route_without_rate_class_is_refused() -> None:
    with pytest.raises(ValueError, match="rate class"):
        Router([Route("GET", "/x", _ok)])
