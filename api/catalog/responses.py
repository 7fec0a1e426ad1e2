"""Response shapes of the catalog routes: seed A's content items, seed B's title page.

Seed A field names (``title``, ``genre``, ``rating``, ``duration`` in seconds, ``thumbnail_url``)
and seed B's (``title_id``, ``name``, ``synopsis``, ``genres``, ``artwork``) are both binding;
each route answers in its own seed's vocabulary, with extra fields where a client needs them.
"""

from __future__ import annotations

import msgspec

from api.catalog.models import Artwork, Episode, Title
from api.wire import ResponseBody, iso


class ContentItem(ResponseBody, kw_only=True):
    """Seed A's content object (browse, trending, new releases, watchlist)."""

    id: str
    title: str
    type: str
    genre: list[str]
    rating: str
    duration: int
    release_year: int
    thumbnail_url: str
    description: str
    cast: list[str]
    director: str
    seasons: int | None
    episodes: int | None
    languages: list[str]
    date_added: str

    @classmethod
    def of(cls, title: Title) -> ContentItem:
        series = title.type == "series"
        return cls(
            id=title.id,
            title=title.name,
            type=title.type,
            genre=title.genres,
            rating=title.maturity_rating,
            duration=title.duration_s,
            release_year=title.release_year,
            thumbnail_url=title.artwork.thumbnail,
            description=title.synopsis,
            cast=title.cast,
            director=title.director,
            seasons=len(title.seasons) if series else None,
            episodes=title.episode_count if series else None,
            languages=title.languages,
            date_added=iso(title.date_added),
        )


class Pagination(ResponseBody, kw_only=True):
    page: int
    limit: int
    total: int
    has_next: bool

    @classmethod
    def of(cls, page: int, limit: int, total: int) -> Pagination:
        return cls(page=page, limit=limit, total=total, has_next=page * limit < total)

    @staticmethod
    def window(page: int, limit: int) -> slice:
        """The items of page ``page`` (from 1) of ``limit`` each."""
        return slice((page - 1) * limit, page * limit)


class ContentPage(ResponseBody, kw_only=True):
    content: list[ContentItem]
    pagination: Pagination


class ContentList(ResponseBody, kw_only=True):
    content: list[ContentItem]


class Availability(ResponseBody, kw_only=True):
    country: str
    playable: bool
    reason: str | None  # why not playable: NOT_AVAILABLE_IN_REGION, MATURITY_RESTRICTED


class EpisodeView(ResponseBody, kw_only=True):
    episode: int
    asset_id: str
    name: str
    synopsis: str
    duration_s: int

    @classmethod
    def of(cls, episode: Episode) -> EpisodeView:
        return cls(
            episode=episode.episode,
            asset_id=episode.asset_id,
            name=episode.name,
            synopsis=episode.synopsis,
            duration_s=episode.duration_s,
        )


class SeasonView(ResponseBody, kw_only=True):
    season: int
    episodes: list[EpisodeView]


class TitlePage(ResponseBody, kw_only=True):
    """Seed B's title detail page; also the body of seed A's ``GET /v1/content/{id}``."""

    title_id: str
    id: str
    type: str
    name: str
    title: str
    synopsis: str
    description: str
    genres: list[str]
    maturity_rating: str
    rating: str
    release_year: int
    duration_s: int
    cast: list[str]
    director: str
    languages: list[str]
    artwork: Artwork
    thumbnail_url: str
    availability: Availability
    asset_id: str | None
    seasons: list[SeasonView]
    date_added: str

    @classmethod
    def of(cls, title: Title, availability: Availability) -> TitlePage:
        return cls(
            title_id=title.id,
            id=title.id,
            type=title.type,
            name=title.name,
            title=title.name,
            synopsis=title.synopsis,
            description=title.synopsis,
            genres=title.genres,
            maturity_rating=title.maturity_rating,
            rating=title.maturity_rating,
            release_year=title.release_year,
            duration_s=title.duration_s,
            cast=title.cast,
            director=title.director,
            languages=title.languages,
            artwork=title.artwork,
            thumbnail_url=title.artwork.thumbnail,
            availability=availability,
            asset_id=title.asset_id,
            seasons=[
                SeasonView(season=s.season, episodes=[EpisodeView.of(e) for e in s.episodes])
                for s in title.seasons
            ],
            date_added=iso(title.date_added),
        )


class ContentDetail(ContentItem, kw_only=True):
    """Seed A's ``GET /v1/content/{id}``: seed A's item fields (``seasons`` and ``episodes`` are
    counts, CONTRACT § "Two shapes of one title") plus seed B's where the names do not collide;
    the seasons with their episodes are ``season_details`` here."""

    title_id: str
    name: str
    synopsis: str
    genres: list[str]
    maturity_rating: str
    duration_s: int
    artwork: Artwork
    availability: Availability
    asset_id: str | None
    season_details: list[SeasonView]

    @classmethod
    def detail(cls, title: Title, availability: Availability) -> ContentDetail:
        page = TitlePage.of(title, availability)
        return cls(
            **msgspec.structs.asdict(ContentItem.of(title)),
            title_id=page.title_id,
            name=page.name,
            synopsis=page.synopsis,
            genres=page.genres,
            maturity_rating=page.maturity_rating,
            duration_s=page.duration_s,
            artwork=page.artwork,
            availability=availability,
            asset_id=page.asset_id,
            season_details=page.seasons,
        )
