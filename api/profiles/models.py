"""Profiles: seed A's shape, plus ``created_at``."""

from __future__ import annotations

from datetime import datetime

import msgspec

from api.maturity import MaturityRating
from api.wire import LanguageTag, ProfileName, RequestBody, ResponseBody, Url, iso


class Profile(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="_id")
    account_id: str
    name: str
    avatar_url: str
    is_kids: bool
    language: str
    maturity_rating: MaturityRating
    created_at: datetime


class CreateProfile(RequestBody, kw_only=True):
    name: ProfileName
    avatar_url: Url | None = None
    is_kids: bool = False
    language: LanguageTag = "en-US"
    maturity_rating: MaturityRating | None = None


class UpdateProfile(RequestBody, kw_only=True):
    """PUT with the fields to change; omitted fields keep their value."""

    name: ProfileName | None = None
    avatar_url: Url | None = None
    is_kids: bool | None = None
    language: LanguageTag | None = None
    maturity_rating: MaturityRating | None = None


class ProfileView(ResponseBody, kw_only=True):
    id: str
    name: str
    avatar_url: str
    is_kids: bool
    language: str
    maturity_rating: str
    created_at: str

    @classmethod
    def of(cls, profile: Profile) -> ProfileView:
        return cls(
            id=profile.id,
            name=profile.name,
            avatar_url=profile.avatar_url,
            is_kids=profile.is_kids,
            language=profile.language,
            maturity_rating=profile.maturity_rating,
            created_at=iso(profile.created_at),
        )


class ProfileList(ResponseBody):
    profiles: list[ProfileView]
