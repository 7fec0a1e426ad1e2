"""The catalog as stored in MongoDB (``titles``, ``assets``) and held in each replica's snapshot.

A title is a movie, a documentary (both one asset) or a series (seasons of episodes, one asset
each). Seed A's ``content_id`` and seed B's ``title_id`` are the same id space.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from api.maturity import MaturityRating

TitleType = Literal["movie", "series", "documentary"]
TYPES: tuple[TitleType, ...] = ("movie", "series", "documentary")

GENRES = (
    "action",
    "adventure",
    "animation",
    "comedy",
    "crime",
    "documentary",
    "drama",
    "family",
    "fantasy",
    "horror",
    "kids",
    "mystery",
    "romance",
    "sci-fi",
    "thriller",
    "western",
)


class Artwork(msgspec.Struct, kw_only=True):
    poster: str
    background: str
    thumbnail: str


class Window(msgspec.Struct, kw_only=True):
    """Where and when a title may be shown; no bounds means always."""

    country: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def open_at(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (
            self.ends_at is None or now < self.ends_at
        )


class Episode(msgspec.Struct, kw_only=True):
    episode: int
    asset_id: str
    name: str
    synopsis: str
    duration_s: int


class Season(msgspec.Struct, kw_only=True):
    season: int
    episodes: list[Episode]


class Title(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="_id")
    type: TitleType
    name: str
    synopsis: str
    genres: list[str]
    maturity_rating: MaturityRating
    cast: list[str]
    director: str
    release_year: int
    languages: list[str]
    artwork: Artwork
    date_added: datetime
    availability: list[Window]
    published: bool = True
    popularity: float = 0.0  # 0..1 editorial prior: the cold-start order before viewing data
    duration_s: int  # a movie's runtime; a series' typical episode length
    asset_id: str | None = None  # movies and documentaries
    seasons: list[Season] = msgspec.field(default_factory=list)
    updated_at: datetime | None = None

    @property
    def episode_count(self) -> int:
        return sum(len(season.episodes) for season in self.seasons)


class Asset(msgspec.Struct, kw_only=True):
    """A playable unit. Content keys and media mapping are added by the playback work."""

    id: str = msgspec.field(name="_id")
    title_id: str
    season: int | None = None
    episode: int | None = None
    duration_ms: int
