"""``GET /v1/openapi.json``: the OpenAPI 3.1 description of every route in the route table.

Nothing here is written by hand per route: each :class:`~api.http.Route` declares the wire types
its handler decodes (``body``) and encodes (``responses``), the query and header parameters it
reads (``params``) and the domain errors it raises (``errors``); this module turns that, plus
what the pipeline in :mod:`api.app` adds to every route (authentication, rate limits, body
limit, outages), into the document. Schemas come from ``msgspec.json.schema_components`` over
those same structs, so the description cannot drift from what the service accepts and returns.
The document is built on first request and its encoded bytes kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from importlib import metadata
from typing import Any

import msgspec

from api.errors import (
    ApiError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from api.http import Media, Param, Request, Response, Route, Router

PATH = "/v1/openapi.json"
_REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"\{(\w+)\}")
# The envelope's structs are private to api.app; the document names them for clients.
_RENAMES = {"_Envelope": "Error", "_ErrorBody": "ErrorBody"}
_BINARY = {"type": "string", "format": "binary"}
_BEARER = "bearer"

Document = dict[str, Any]


def _schema_hook(type_: Any) -> dict[str, Any]:
    if type_ is object:  # the envelope's ``details``: a message or an object naming the problem
        return {"description": "Any JSON value: a message, or an object naming the problem"}
    raise NotImplementedError


def _version() -> str:
    try:
        return metadata.version("streaming-backend")
    except metadata.PackageNotFoundError:
        return "0"


def errors_of(route: Route) -> dict[int, list[str]]:
    """Status → error codes a route may answer with: its own, and what the pipeline adds."""
    raised: list[type[ApiError]] = list(route.errors)
    if route.body is not None or any(p.where == "query" for p in route.params):
        raised.append(InvalidRequest)
    if "{" in route.template:  # a parameter with a "/" in it leaves the template: no route
        raised.append(NotFound)
    if route.body is not None:
        raised.append(PayloadTooLarge)
    if route.auth != "none":
        raised.append(Unauthorized)
    if route.auth == "admin":
        raised.append(Forbidden)
    if route.rate_class is not None:
        raised.append(RateLimited)
    raised.append(ServiceUnavailable)
    by_status: dict[int, list[str]] = {}
    for error in raised:
        codes = by_status.setdefault(error.status, [])
        if error.code not in codes:
            codes.append(error.code)
    return {status: sorted(codes) for status, codes in sorted(by_status.items())}


def _types_of(routes: Iterable[Route], envelope: type) -> list[Any]:
    found: list[Any] = [envelope]

    def add(spec: Any) -> None:
        if isinstance(spec, tuple):  # one of several bodies
            for one in spec:
                add(one)
        elif isinstance(spec, Media):
            add(spec.type)
            for part in spec.parts.values():
                add(part)
        elif spec is not None and spec is not bytes and spec not in found:
            found.append(spec)

    for route in routes:
        add(route.body)
        for response in route.responses.values():
            add(response)
    return found


class _Builder:
    def __init__(self, routes: list[Route], envelope: type) -> None:
        self.routes = routes
        types = _types_of(routes, envelope)
        schemas, self.components = msgspec.json.schema_components(
            types, schema_hook=_schema_hook, ref_template=_REF
        )
        self.refs: dict[Any, dict[str, Any]] = dict(zip(types, schemas, strict=True))
        self.envelope = self.refs[envelope]

    def schema(self, type_: Any) -> dict[str, Any]:
        if isinstance(type_, tuple):
            return {"anyOf": [self.schema(one) for one in type_]}
        if type_ is bytes:
            return dict(_BINARY)
        if type_ in self.refs:
            return self.refs[type_]
        return msgspec.json.schema(type_, schema_hook=_schema_hook)

    def content(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, Media):
            return {"application/json": {"schema": self.schema(spec)}}
        media: dict[str, Any] = {}
        if spec.parts:
            media["schema"] = {
                "type": "object",
                "properties": {name: self.schema(t) for name, t in spec.parts.items()},
                "required": list(spec.parts),
            }
            media["encoding"] = {
                name: {
                    "contentType": "application/octet-stream" if t is bytes else "application/json"
                }
                for name, t in spec.parts.items()
            }
        elif spec.type is not None:
            media["schema"] = self.schema(spec.type)
        else:
            media["schema"] = dict(spec.schema) if spec.schema is not None else dict(_BINARY)
        return {spec.media_type: media}

    def parameter(self, param: Param) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": param.name,
            "in": param.where,
            "required": param.required,
            "schema": self.schema(param.type),
        }
        if param.description:
            described["description"] = param.description
        return described

    def error_response(self, codes: list[str]) -> dict[str, Any]:
        code_schema = {"type": "object", "properties": {"code": {"enum": codes}}}
        return {
            "allOf": [self.envelope],
            "type": "object",
            "properties": {"error": code_schema},
        }

    def operation(self, route: Route) -> dict[str, Any]:
        limited = route.rate_class is not None or RateLimited in route.errors
        headers: dict[str, Any] = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
        if limited:
            for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                headers[name] = {"$ref": f"#/components/headers/{name}"}
        retry = {**headers, "Retry-After": {"$ref": "#/components/headers/Retry-After"}}

        responses: dict[str, Any] = {}
        for status, spec in sorted(route.responses.items()):
            described: dict[str, Any] = {
                "description": HTTPStatus(status).phrase,
                "headers": dict(headers),
            }
            if spec is not None:
                described["content"] = self.content(spec)
            responses[str(status)] = described
        if not responses:  # a route that declares nothing: say only that it answers
            responses["200"] = {"description": "OK", "headers": dict(headers)}
        for status, codes in errors_of(route).items():
            envelope = self.error_response(codes)
            own = responses.get(str(status))
            if own is not None and "content" in own:  # e.g. /readyz's 503 has its own body
                declared = own["content"].get("application/json", {}).get("schema")
                if declared is not None:
                    envelope = {"anyOf": [declared, envelope]}
            responses[str(status)] = {
                "description": f"{HTTPStatus(status).phrase}: {', '.join(codes)}",
                "headers": retry if status in (429, 503) else dict(headers),
                "content": {"application/json": {"schema": envelope}},
            }

        operation: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": route.summary or _first_line(route.handler.__doc__) or route.template,
            "tags": list(route.tags) or [_tag(route)],
            "responses": responses,
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(route.template)
        ] + [self.parameter(p) for p in route.params]
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": self.content(route.body)}
        if route.auth == "none":
            operation["security"] = []
        if route.auth == "admin":
            operation["description"] = "Needs an admin account's access token (403 otherwise)."
        if route.rate_class is not None:
            operation["x-rate-limit-class"] = route.rate_class
        return operation

    def document(self) -> Document:
        paths: dict[str, dict[str, Any]] = {}
        for route in self.routes:
            paths.setdefault(route.template, {})[route.method.lower()] = self.operation(route)
        document: Document = _renamed(
            {
                "openapi": "3.1.0",
                "info": {
                    "title": "Streaming backend API",
                    "version": _version(),
                    "description": (
                        "Seed A's and seed B's routes under one /v1 prefix. Errors use one "
                        "envelope; each error response lists the codes it may carry."
                    ),
                },
                "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
                "security": [{_BEARER: []}],
                "paths": dict(sorted(paths.items())),
                "components": {
                    "schemas": self.components,
                    "securitySchemes": {
                        _BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                    },
                    "headers": _HEADERS,
                },
            }
        )
        return document


_HEADERS = {
    "X-Request-Id": {
        "description": "The request's id (the caller's when sane); error bodies repeat it.",
        "required": True,
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed in the current window of this route's class.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "When the window ends, epoch seconds.",
        "schema": {"type": "integer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    },
}


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


def _tag(route: Route) -> str:
    if route.auth == "admin":
        return "admin"
    parts = route.handler.__module__.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "api" else "other"


def _operation_id(route: Route) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", route.template).strip("_")
    return f"{route.method.lower()}_{slug}"


def _renamed(value: Any) -> Any:
    """Give the envelope's private struct names public ones, in keys and references."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                name = item.rsplit("/", 1)[-1]
                item = item[: -len(name)] + _RENAMES.get(name, name)
            out[_RENAMES.get(key, key) if isinstance(key, str) else key] = _renamed(item)
        return out
    if isinstance(value, list):
        return [_renamed(item) for item in value]
    return value


def build(routes: Iterable[Route]) -> Document:
    from api.app import _Envelope  # api.app imports this module for its route

    return _Builder(list(routes), _Envelope).document()


def routes(router: Callable[[], Router]) -> list[Route]:
    """The route serving the document of ``router()``'s table (this route included)."""
    encoded: list[bytes] = []

    async def openapi(req: Request) -> Response:
        """The OpenAPI 3.1 description of this API."""
        if not encoded:
            encoded.append(msgspec.json.encode(build(router().routes)))
        return Response(body=encoded[0], headers={"Cache-Control": "public, max-age=300"})

    return [
        Route(
            "GET",
            PATH,
            openapi,
            auth="none",
            summary="This document: OpenAPI 3.1 of every route",
            responses={200: Media("application/json", schema={"type": "object"})},
            tags=("meta",),
        )
    ]
