"""The request pipeline: route → authenticate → rate-limit (+ revocation) → handler → envelope.

This is the one place where domain exceptions and dependency outages become HTTP errors.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping

import msgspec
from pymongo.errors import ConnectionFailure, PyMongoError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api import openapi
from api.auth import views as auth_views
from api.catalog import admin as catalog_admin
from api.catalog import views as catalog_views
from api.deps import Deps
from api.downloads import views as download_views
from api.errors import (
    ApiError,
    Forbidden,
    InternalError,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from api.health import views as health_views
from api.home import views as home_views
from api.http import Request, Response, Route, Router
from api.images import views as image_views
from api.ingest import views as ingest_views
from api.lists import views as list_views
from api.playback import drm as drm_views
from api.playback import events as event_views
from api.playback import views as playback_views
from api.profiles import cache as profile_cache
from api.profiles import views as profile_views
from api.ratings import views as rating_views
from api.recommendations import views as recommendation_views
from api.search import views as search_views
from api.shedding import Priority, Shedder
from api.web import views as web_views
from api.wire import encode, iso, utc_now
from core.config import RuntimeConfig

log = logging.getLogger("api")

MAX_BODY_BYTES = 1 << 20
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_OUTAGES = (ConnectionFailure, RedisConnectionError, RedisTimeoutError, TimeoutError)


# A request's route and path parameters, or the 404/405 that answers it.
Match = tuple[Route, dict[str, str]] | ApiError
# (route template, method, status, error code or ""): once per request, e.g. for Prometheus.
Observer = Callable[[str, str, int, str], None]


class _ErrorBody(msgspec.Struct):
    code: str
    message: str
    details: object


class _Envelope(msgspec.Struct):
    error: _ErrorBody
    timestamp: str
    request_id: str


def error_response(error: ApiError, request_id: str) -> Response:
    details = error.message if error.details is None else error.details
    body = _Envelope(_ErrorBody(error.code, error.message, details), iso(utc_now()), request_id)
    return Response(status=error.status, body=encode(body), headers=dict(error.headers))


def request_id_for(headers: Mapping[str, str]) -> str:
    """Keep a caller's (or a load balancer's) id when it is sane, so logs line up end to end."""
    incoming = headers.get("x-request-id", "")
    return incoming if _SAFE_REQUEST_ID.match(incoming) else f"req_{secrets.token_hex(8)}"


def bearer_token(headers: Mapping[str, str]) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send Authorization: Bearer <access token>")
    return token.strip()


class App:
    def __init__(
        self,
        deps: Deps,
        *,
        extra_checks: Mapping[str, health_views.Check] | None = None,
        extra_routes: Iterable[Route] = (),
        observe: Observer | None = None,
        on_shed: Callable[[Priority], None] | None = None,
    ) -> None:
        self.deps = deps
        self.observe = observe
        self.shedder = Shedder(on_shed)
        checks = {
            **health_views.dependency_checks(deps),
            "catalog": deps.catalog.check,
            **(extra_checks or {}),
        }
        self.router = Router(
            [
                *health_views.routes(deps, checks),
                *auth_views.routes(deps),
                *profile_views.routes(deps),
                *catalog_views.routes(deps, deps.trending),
                *catalog_admin.routes(deps),
                *ingest_views.routes(deps),
                *image_views.routes(deps),
                *search_views.routes(deps),
                *list_views.routes(deps),
                *rating_views.routes(deps),
                *recommendation_views.routes(deps, deps.trending),
                *home_views.routes(deps, deps.trending),
                *playback_views.routes(deps),
                *drm_views.routes(deps),
                *download_views.routes(deps),
                *event_views.routes(deps),
                *web_views.routes(deps),
                *openapi.routes(lambda: self.router),
                *extra_routes,
            ]
        )

    def match(self, method: str, path: str) -> Match:
        """The route and path parameters for a request, or the error that answers it (404,
        405). The ingress matches once, before it reads the body (an upload's route streams
        it), and hands the match to :meth:`handle`."""
        try:
            return self.router.match(method, path)
        except ApiError as error:
            return error

    def reconfigure(self, runtime: RuntimeConfig) -> None:
        self.deps.reconfigure(runtime)
        self.shedder.configure(runtime.shedding)

    async def handle(self, req: Request, matched: Match | None = None) -> Response:
        """Answer ``req``; ``matched``: :meth:`match`'s answer for it, if already asked."""
        shedder = self.shedder
        if not shedder.lag.running:
            shedder.lag.start()  # on the loop that serves: the lag it measures is this one's
        shedder.in_flight += 1
        try:
            return await self._handle(req, matched)
        finally:
            shedder.in_flight -= 1

    async def _handle(self, req: Request, matched: Match | None) -> Response:
        req.request_id = request_id_for(req.headers)
        template, code = "unmatched", ""
        try:
            if len(req.body) > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"Bodies are limited to {MAX_BODY_BYTES} bytes")
            if matched is None:
                matched = self.match(req.method, req.path)
            if isinstance(matched, ApiError):
                raise matched
            route, req.path_params = matched
            template = route.template
            if not self.shedder.admit(route.priority):  # before auth, decoding, any store call
                raise ServiceUnavailable(
                    "Overloaded: this request was shed to keep playback going; retry shortly"
                )
            if route.auth != "none":
                principal = self.deps.tokens.verify_access(bearer_token(req.headers))
                if route.auth == "admin" and principal.role != "admin":
                    raise Forbidden("This route needs an admin account")
                req.principal = principal
            if route.rate_class is not None and req.principal is not None:
                admission = await self.deps.limiter.admit(
                    route.rate_class,
                    account_id=req.principal.account_id,
                    family=req.principal.family,
                    version_key=profile_cache.version_key(req.principal.account_id),
                )
                req.profiles_version = admission.profiles_version
                req.rate_headers = admission.state.headers() if admission.state else {}
            response = await route.handler(req)
        except ApiError as error:
            response = error_response(error, req.request_id)
            code = error.code
            if error.status == 503:  # every 503 says when to come back (clients back off)
                response.headers.setdefault("Retry-After", "1")
        except _OUTAGES as exc:
            log.warning("request %s: dependency unavailable: %r", req.request_id, exc)
            response = error_response(
                ServiceUnavailable("A backing store is unavailable; retry shortly"),
                req.request_id,
            )
            response.headers["Retry-After"] = "1"
            code = ServiceUnavailable.code
        except PyMongoError as exc:
            log.error("request %s: database error: %r", req.request_id, exc)
            response = error_response(InternalError(), req.request_id)
            code = InternalError.code
        except Exception:
            log.exception(
                "request %s: unhandled error on %s %s", req.request_id, req.method, req.path
            )
            response = error_response(InternalError(), req.request_id)
            code = InternalError.code
        for name, value in req.rate_headers.items():
            response.headers.setdefault(name, value)
        response.headers["X-Request-Id"] = req.request_id
        if self.observe is not None:
            self.observe(template, req.method, response.status, code)
        return response
