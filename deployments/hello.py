"""The ceiling: the cheapest possible Serve endpoint, measured beside the API in every benchmark."""

from __future__ import annotations

import msgspec
from ray import serve
from starlette.requests import Request
from starlette.responses import Response


@serve.deployment
class Hello:
    def __init__(self) -> None:
        self._body = msgspec.json.encode({"hello": "world"})

    async def __call__(self, request: Request) -> Response:
        return Response(self._body, media_type="application/json")


app = Hello.bind()  # type: ignore[attr-defined]  # added by @serve.deployment
