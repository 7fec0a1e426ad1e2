"""The account as stored, and the ``user`` object of seed A's login response."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from api.wire import CountryCode, Email, Password, RequestBody, ResponseBody

Plan = Literal["basic", "standard", "premium"]
Role = Literal["user", "admin"]

MAX_PROFILES = 5
STREAM_LIMIT: dict[str, int] = {"basic": 1, "standard": 2, "premium": 4}


class Account(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="_id")
    email: str
    password_hash: str
    country: str
    plan: Plan
    role: Role = "user"
    profile_count: int = 0
    created_at: datetime


class RegisterRequest(RequestBody, kw_only=True):
    email: Email
    password: Password
    country: CountryCode = "US"
    plan: Plan = "standard"


class UserView(ResponseBody, kw_only=True):
    id: str
    email: str
    subscription_tier: Plan
    country: str
    role: Role

    @classmethod
    def of(cls, account: Account) -> UserView:
        return cls(
            id=account.id,
            email=account.email,
            subscription_tier=account.plan,
            country=account.country,
            role=account.role,
        )


__all__ = ["MAX_PROFILES", "STREAM_LIMIT", "Account", "Password", "RegisterRequest", "UserView"]
