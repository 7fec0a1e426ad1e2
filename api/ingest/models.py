"""Wire types of the media supply chain (seed A's upload and status, seed B's asset attach)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from api.catalog.models import TitleType
from api.catalog.titles import Genre, Name, Person, Text, Year
from api.maturity import MaturityRating
from api.wire import LanguageTag, RequestBody, ResponseBody

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Number = Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class ContentMetadata(RequestBody, kw_only=True):
    """Seed A's ``metadata`` part: its fields, plus the optional ones a title needs anyway."""

    title: Name
    description: Text = ""
    genre: Annotated[list[Genre], msgspec.Meta(min_length=1, max_length=5)]
    rating: MaturityRating
    release_year: Year
    type: TitleType = "movie"
    cast: Annotated[list[Person], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    director: Person = "Unknown"
    languages: Annotated[list[LanguageTag], msgspec.Meta(min_length=1, max_length=20)] = (
        msgspec.field(default_factory=lambda: ["en-US"])
    )


class AttachAsset(RequestBody, kw_only=True):
    """Seed B: a finished resumable upload becomes a title's main asset or an episode."""

    title_id: Id
    upload_id: Id
    season: Number | None = None
    episode: Number | None = None


class Accepted(ResponseBody, kw_only=True):
    content_id: str
    asset_id: str
    status_url: str
    status: str = "queued"


class UploadCreated(ResponseBody, kw_only=True):
    upload_id: str
    upload_url: str
    offset: int
    length: int
    expires_at: str


class UploadOffset(ResponseBody, kw_only=True):
    """Where a resumable upload stands (also in the ``Upload-Offset`` header)."""

    upload_id: str
    offset: int
    length: int


class Upload(msgspec.Struct, kw_only=True):
    """A resumable upload (collection ``uploads``): its parts, in order, form the file."""

    id: str = msgspec.field(name="_id")
    length: int
    offset: int = 0
    parts: list[str] = msgspec.field(default_factory=list)
    attached_to: str | None = None  # the asset made from it; an upload feeds one asset
    filename: str = ""
    created_at: int  # epoch seconds
    updated_at: int
