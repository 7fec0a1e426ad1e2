"""A framework-free request/response pair and the route table.

The Serve ingress adapts Starlette's request to :class:`Request`; unit tests build one directly.
Routing is a dict lookup for static paths and one compiled regex per templated path.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from api import wire
from api.errors import ApiError, MethodNotAllowed, NotFound
from api.shedding import Priority

Auth = Literal["none", "user", "admin"]


@dataclass(slots=True, frozen=True)
class Principal:
    """Who a verified access token speaks for."""

    account_id: str
    role: str
    plan: str
    country: str
    family: str  # refresh-token family; revoking it revokes this access token too
    expires_at: int


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    request_id: str = ""
    path_params: dict[str, str] = field(default_factory=dict)
    principal: Principal | None = None
    client: str = ""
    # Set by whoever counted this request against a budget; added to any response, errors too.
    rate_headers: dict[str, str] = field(default_factory=dict)
    # The account's profiles version, read with the rate limit (None: not read this request).
    profiles_version: int | None = None
    # Routes declared ``streams_body``: the body as it arrives (``body`` stays empty), so an
    # upload is never held whole in memory.
    stream: AsyncIterator[bytes] | None = None

    @property
    def wants_fresh(self) -> bool:
        """``Cache-Control: no-cache``: the client asks us to recompute, not replay."""
        return "no-cache" in self.headers.get("cache-control", "")

    @property
    def account_id(self) -> str:
        assert self.principal is not None, "route declared auth='none' but reads the principal"
        return self.principal.account_id


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status=status, body=wire.encode(value))


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(slots=True, frozen=True)
class Media:
    """A body that is not (only) a JSON struct: its media type and, optionally, a wire type or
    a JSON schema describing it (raw bytes by default). Used by :mod:`api.openapi`."""

    media_type: str
    type: Any = None  # a msgspec-encodable type: the body is that type's JSON
    schema: Mapping[str, Any] | None = None  # else this schema (default: binary)
    # multipart/form-data: part name → a wire type (a JSON part) or ``bytes`` (a file)
    parts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Param:
    """A query or header parameter a handler reads, typed with msgspec constraints
    (e.g. ``Annotated[int, msgspec.Meta(ge=1, le=100)]``) for the API description."""

    name: str
    type: Any = str
    where: Literal["query", "header"] = "query"
    required: bool = False
    description: str = ""


# A body: a wire type (JSON; a struct, or e.g. ``dict[str, str]``), a tuple of them (one of
# those), a non-JSON :class:`Media`, or None (no body).
BodySpec = Any


@dataclass(slots=True, frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    auth: Auth = "user"
    rate_class: str | None = None
    # Which requests an overloaded replica refuses first (api/shedding.py): "critical" never,
    # "high" only past the high bar, "low" first.
    priority: Priority = "low"
    # The handler reads ``Request.stream`` itself (uploads); other routes get the whole body,
    # capped at the app's body limit.
    streams_body: bool = False
    # What :mod:`api.openapi` describes; the pipeline never reads these.
    summary: str = ""
    body: BodySpec = None  # the request body: the wire type ``decode`` reads
    params: tuple[Param, ...] = ()
    responses: Mapping[int, BodySpec] = field(default_factory=dict)  # status → body
    # The ApiError subclasses the handler may raise, beyond the ones the pipeline adds
    # (401/403/429/503, and 400/413 for a body).
    errors: tuple[type[ApiError], ...] = ()
    tags: tuple[str, ...] = ()


_PARAM = re.compile(r"\{(\w+)\}")


class Router:
    """Maps (method, path) to a route; unknown path → 404, known path wrong method → 405."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = tuple(routes)
        self._static: dict[str, dict[str, Route]] = {}
        self._templated: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        by_template: dict[str, dict[str, Route]] = {}
        for route in routes:
            if route.auth != "none" and route.rate_class is None:
                # The revocation check rides on the rate-limit call: an authenticated route
                # without a rate class would skip it.
                raise ValueError(f"{route.method} {route.template} needs a rate class")
            methods = by_template.setdefault(route.template, {})
            if route.method in methods:
                raise ValueError(f"duplicate route {route.method} {route.template}")
            methods[route.method] = route
        for template, methods in by_template.items():
            if "{" not in template:
                self._static[template] = methods
            else:
                pattern = _PARAM.sub(lambda m: f"(?P<{m[1]}>[^/]+)", template)
                self._templated.append((re.compile(f"^{pattern}$"), methods))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        path = path.rstrip("/") or "/"
        methods = self._static.get(path)
        params: dict[str, str] = {}
        if methods is None:
            for pattern, candidate in self._templated:
                if found := pattern.match(path):
                    methods, params = candidate, found.groupdict()
                    break
        if methods is None:
            raise NotFound(f"No route for {path}")
        route = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
        if route is None:
            allowed = ", ".join(sorted(methods))
            raise MethodNotAllowed(f"{method} is not allowed on {path}", headers={"Allow": allowed})
        return route, params
