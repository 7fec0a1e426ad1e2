"""Seed A's login response (also the body of register and refresh), and the auth requests."""

from __future__ import annotations

from typing import Annotated

import msgspec

from api.accounts.models import UserView
from api.wire import RequestBody, ResponseBody

JwtString = Annotated[str, msgspec.Meta(min_length=10, max_length=4096)]


class LoginRequest(RequestBody, kw_only=True):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class RefreshRequest(RequestBody, kw_only=True):
    refresh_token: JwtString


class LoginResponse(ResponseBody, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str
    user: UserView


class Ok(ResponseBody):
    ok: bool = True
