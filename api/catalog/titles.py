"""A new title document, as admin routes and uploads create it: unpublished, without media."""

from __future__ import annotations

import secrets
from typing import Annotated

import msgspec

from api.catalog.models import GENRES, Artwork, Title, TitleType
from api.errors import InvalidRequest
from api.maturity import MaturityRating
from api.wire import utc_now

# Field constraints shared by every body that describes a title (admin edits, upload metadata).
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=5000)]
Person = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Year = Annotated[int, msgspec.Meta(ge=1888, le=2100)]
Seconds = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Genre = Annotated[str, msgspec.Meta(min_length=1, max_length=30)]


def artwork_urls(base_url: str, title_id: str) -> Artwork:
    """Where a title's images are served (``GET /static/artwork/{title_id}/{file}``)."""
    art = f"{base_url}/static/artwork/{title_id}"
    return Artwork(
        poster=f"{art}/poster.jpg",
        background=f"{art}/background.jpg",
        thumbnail=f"{art}/thumbnail.jpg",
    )


def new_title(
    base_url: str,
    *,
    type: TitleType,
    name: str,
    synopsis: str,
    genres: list[str],
    maturity_rating: MaturityRating,
    cast: list[str],
    director: str,
    release_year: int,
    languages: list[str],
    duration_s: int,
) -> Title:
    title_id = f"t_{secrets.token_hex(6)}"
    now = utc_now()
    return Title(
        id=title_id,
        type=type,
        name=name,
        synopsis=synopsis,
        genres=genres,
        maturity_rating=maturity_rating,
        cast=cast,
        director=director,
        release_year=release_year,
        languages=languages,
        artwork=artwork_urls(base_url, title_id),
        date_added=now,
        availability=[],
        published=False,  # a shell until it has media and is published in some regions
        duration_s=duration_s,
        updated_at=now,
    )


def check_genres(genres: list[str] | None, field: str) -> None:
    unknown = sorted(set(genres or []) - set(GENRES))
    if unknown:
        raise InvalidRequest(
            f"Unknown genre {unknown[0]}", details=f"{field}: unknown genre {unknown[0]}"
        )
