"""``/healthz`` (this process answers) and ``/readyz`` (its dependencies answer, in time)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from api.deps import Deps
from api.errors import NotReady
from api.http import Request, Response, Route, json_response
from api.wire import ResponseBody

Check = Callable[[], Awaitable[object]]


class Health(ResponseBody):
    status: Literal["ok"] = "ok"


class Readiness(ResponseBody, kw_only=True):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]  # component → "ok", "not ready: …" or "unavailable: …"


def dependency_checks(deps: Deps) -> dict[str, Check]:
    return {
        "mongodb": lambda: deps.mongo.admin.command("ping"),
        "redis": deps.redis.ping,
    }


async def run_checks(checks: Mapping[str, Check], timeout_s: float) -> dict[str, str]:
    async def one(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), timeout_s)
        except NotReady as exc:  # warming up, and says how far (e.g. the catalog's load)
            return f"not ready: {exc}"
        except Exception as exc:
            return f"unavailable: {type(exc).__name__}"
        return "ok"

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


def routes(deps: Deps, checks: Mapping[str, Check]) -> list[Route]:
    timeout_s = deps.settings.dependency_timeout_ms / 1000

    async def healthz(req: Request) -> Response:
        return json_response(Health())

    async def readyz(req: Request) -> Response:
        results = await run_checks(checks, timeout_s)
        ready = all(result == "ok" for result in results.values())
        return json_response(
            Readiness(status="ready" if ready else "not_ready", checks=results),
            status=200 if ready else 503,
        )

    return [
        Route(
            "GET",
            "/healthz",
            healthz,
            priority="critical",
            auth="none",
            summary="The process answers",
            responses={200: Health},
        ),
        Route(
            "GET",
            "/readyz",
            readyz,
            priority="critical",
            auth="none",
            summary="MongoDB, Redis, the catalog and the actors answer, in time",
            responses={200: Readiness, 503: Readiness},
        ),
    ]
