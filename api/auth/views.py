"""Routes of seed A "Authentication", register, and the JWKS."""

from __future__ import annotations

from api.accounts.models import RegisterRequest
from api.auth import service
from api.auth.models import LoginRequest, LoginResponse, Ok, RefreshRequest
from api.deps import Deps
from api.errors import Conflict, RateLimited, Unauthorized
from api.http import Request, Response, Route, json_response
from api.wire import decode


def routes(deps: Deps) -> list[Route]:
    async def count(req: Request, subject: str, account_id: str = "") -> None:
        """Auth budgets are keyed by the email tried (or the token's account), not the caller."""
        state = await deps.limiter.hit("auth", subject.strip().lower(), account_id=account_id)
        req.rate_headers = state.headers() if state else {}

    async def register(req: Request) -> Response:
        body = decode(req.body, RegisterRequest)
        await count(req, body.email)
        return json_response(await service.register(deps, body), status=201)

    async def login(req: Request) -> Response:
        body = decode(req.body, LoginRequest)
        await count(req, body.email)
        return json_response(await service.login(deps, email=body.email, password=body.password))

    async def refresh(req: Request) -> Response:
        body = decode(req.body, RefreshRequest)
        account_id, _, _ = deps.tokens.read_refresh(body.refresh_token)
        await count(req, account_id, account_id)
        return json_response(await service.refresh(deps, refresh_token=body.refresh_token))

    async def logout(req: Request) -> Response:
        assert req.principal is not None
        await deps.tokens.revoke_family(req.principal.account_id, req.principal.family)
        return json_response(Ok())

    async def jwks(req: Request) -> Response:
        response = json_response(deps.tokens.jwks())
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    limited = (RateLimited,)  # auth budgets are counted in the handlers, by email or account
    return [
        Route(
            "POST",
            "/v1/auth/register",
            register,
            auth="none",
            summary="Create an account (and its first profile); signs in",
            body=RegisterRequest,
            responses={201: LoginResponse},
            errors=(Conflict, *limited),
        ),
        Route(
            "POST",
            "/v1/auth/login",
            login,
            priority="high",
            auth="none",
            summary="Sign in with email and password",
            body=LoginRequest,
            responses={200: LoginResponse},
            errors=(Unauthorized, *limited),
        ),
        Route(
            "POST",
            "/v1/auth/refresh",
            refresh,
            priority="high",
            auth="none",
            summary="Exchange a refresh token (rotates it; reuse revokes the sign-in)",
            body=RefreshRequest,
            responses={200: LoginResponse},
            errors=(Unauthorized, *limited),
        ),
        Route(
            "POST",
            "/v1/auth/logout",
            logout,
            rate_class="auth",
            summary="Revoke this access token and its refresh family",
            responses={200: Ok},
        ),
        Route(
            "GET",
            "/v1/.well-known/jwks.json",
            jwks,
            auth="none",
            summary="The public keys that verify access tokens (EdDSA)",
            responses={200: dict[str, list[dict[str, str]]]},
        ),
    ]
