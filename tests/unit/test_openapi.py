"""The API description: a valid OpenAPI 3.1 document of every route in the app's table."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from openapi_spec_validator import validate

from api import openapi
from api.app import App
from api.deps import Deps
from api.http import Request

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def app(deps: Deps) -> App:
    return App(deps)


@pytest.fixture(scope="module")
async def served(app: App) -> Doc:
    response = await app.handle(Request("GET", openapi.PATH))
    assert response.status == 200 and response.content_type == "application/json"
    return msgspec.json.decode(response.body)  # type: ignore[no-any-return]


def test_document_is_valid_openapi_3_1(served: Doc) -> None:
    validate(served)
    assert served["openapi"].startswith("3.1")


def test_every_route_is_described_with_its_responses(app: App, served: Doc) -> None:
    for route in app.router.routes:
        operation = served["paths"][route.template][route.method.lower()]
        responses = operation["responses"]
        for status in route.responses:
            assert str(status) in responses, (route.method, route.template, status)
        for status, codes in openapi.errors_of(route).items():
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert codes == _codes(schema), (route.method, route.template, status)
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert names == set(openapi._PARAM.findall(route.template))
        assert ("requestBody" in operation) == (route.body is not None)
        if route.auth == "none":
            assert operation["security"] == []
        else:
            assert "security" not in operation  # the document's default: the bearer token
            assert "401" in responses and ("429" in responses) == (route.rate_class is not None)
    described = {(m, p) for p, ops in served["paths"].items() for m in ops}
    assert described == {(r.method.lower(), r.template) for r in app.router.routes}


def _codes(schema: Doc) -> list[str]:
    if "anyOf" in schema:  # a route's own body for that status, or the envelope
        schema = schema["anyOf"][-1]
    return list(schema["properties"]["error"]["properties"]["code"]["enum"])


def test_every_declared_route_has_metadata(app: App) -> None:
    """A route added without saying what it answers would be described as a bare 200."""
    bare = [f"{r.method} {r.template}" for r in app.router.routes if not r.responses]
    assert bare == []


def test_schemas_come_from_the_wire_structs(served: Doc) -> None:
    schemas = served["components"]["schemas"]
    register = served["paths"]["/v1/auth/register"]["post"]
    body = register["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RegisterRequest"}
    assert schemas["RegisterRequest"]["additionalProperties"] is False  # unknown fields: 400
    assert set(schemas["Error"]["properties"]) == {"error", "timestamp", "request_id"}
    assert set(schemas["ErrorBody"]["properties"]) == {"code", "message", "details"}
    upload = served["paths"]["/v1/admin/content"]["post"]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data"}
    patch = served["paths"]["/v1/admin/uploads/{upload_id}"]["patch"]["requestBody"]["content"]
    assert set(patch) == {"application/offset+octet-stream"}
    assert served["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_document_is_built_once(app: App) -> None:
    first = await app.handle(Request("GET", openapi.PATH))
    second = await app.handle(Request("GET", openapi.PATH))
    assert first.body is second.body
