"""The catalog held in each ingress replica: titles by position, filter masks, orderings.

Catalog reads (browse, title, home, search) never query MongoDB per request: at 100,000 titles a
filter is a few numpy ``&`` over boolean arrays, and paging is a slice of a precomputed order.
The snapshot is rebuilt from its title list when the catalog changes (rare: admin edits), which
keeps every derived array consistent by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from api.catalog.models import GENRES, TYPES, Title
from api.maturity import LEVEL

Mask = npt.NDArray[np.bool_]
Positions = npt.NDArray[np.intp]

_GENRE_INDEX = {genre: i for i, genre in enumerate(GENRES)}
_ValuesOf = Callable[[Title], Iterable[str]]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: decides which titles exist for this request."""

    country: str
    maturity_cap: str | None = None  # a profile's rating cap; None: the account, uncapped


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CatalogSnapshot:
    titles: list[Title]
    version: int = 0
    # Deleted titles keep their position (so position-keyed indexes update in place) but are
    # unpublished and unknown to ``get``.
    tombstones: frozenset[int] = frozenset()
    by_id: dict[str, int] = field(init=False)
    asset_owner: dict[str, int] = field(init=False)  # asset id → title position
    genre_matrix: npt.NDArray[np.float32] = field(init=False)  # n x len(GENRES), 0/1
    published: Mask = field(init=False)
    level: npt.NDArray[np.int8] = field(init=False)
    popularity: npt.NDArray[np.float32] = field(init=False)
    release_year: npt.NDArray[np.int16] = field(init=False)
    type_code: npt.NDArray[np.int8] = field(init=False)  # index into TYPES
    cast_index: dict[str, list[int]] = field(init=False)  # person → positions they appear in
    director_index: dict[str, list[int]] = field(init=False)
    by_popularity: Positions = field(init=False)
    by_date_added: Positions = field(init=False)
    _types: dict[str, Mask] = field(init=False)
    _languages: dict[str, Mask] = field(init=False)
    _countries: dict[str, Mask] = field(init=False)
    _next_boundary: datetime | None = field(init=False)
    availability_epoch: int = field(init=False, default=0)  # bumps when a window opens/closes
    _visible_cache: dict[Viewer, Mask] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.titles)
        self.by_id = {
            title.id: pos for pos, title in enumerate(self.titles) if pos not in self.tombstones
        }
        self.asset_owner = {}
        for pos, title in enumerate(self.titles):
            if title.asset_id:
                self.asset_owner[title.asset_id] = pos
            for season in title.seasons:
                for episode in season.episodes:
                    self.asset_owner[episode.asset_id] = pos
        self.genre_matrix = np.zeros((n, len(GENRES)), dtype=np.float32)
        for pos, title in enumerate(self.titles):
            for genre in title.genres:
                if (column := _GENRE_INDEX.get(genre)) is not None:
                    self.genre_matrix[pos, column] = 1.0
        self.cast_index, self.director_index = {}, {}
        for pos, title in enumerate(self.titles):
            for person in title.cast:
                self.cast_index.setdefault(person, []).append(pos)
            self.director_index.setdefault(title.director, []).append(pos)
        self.published = np.fromiter(
            (t.published and pos not in self.tombstones for pos, t in enumerate(self.titles)),
            np.bool_,
            n,
        )
        self.level = np.fromiter((LEVEL[t.maturity_rating] for t in self.titles), np.int8, n)
        self.popularity = np.fromiter((t.popularity for t in self.titles), np.float32, n)
        self.release_year = np.fromiter((t.release_year for t in self.titles), np.int16, n)
        self.type_code = np.fromiter((TYPES.index(t.type) for t in self.titles), np.int8, n)
        # Stable sorts with position as the tie-break: pages never shuffle between requests.
        self.by_popularity = np.argsort(-self.popularity, kind="stable")
        added = np.fromiter((t.date_added.timestamp() for t in self.titles), np.float64, n)
        self.by_date_added = np.argsort(-added, kind="stable")
        self._types = self._index(lambda t: [t.type])
        self._languages = self._index(lambda t: t.languages)
        self._rebuild_availability(_now())

    def _index(self, values_of: _ValuesOf) -> dict[str, Mask]:
        masks: dict[str, Mask] = {}
        for pos, title in enumerate(self.titles):
            for value in values_of(title):
                masks.setdefault(value, np.zeros(len(self.titles), np.bool_))[pos] = True
        return masks

    def _rebuild_availability(self, now: datetime) -> None:
        """Per-country masks of titles whose window is open now, and when that next changes."""
        countries: dict[str, Mask] = {}
        boundaries: list[datetime] = []
        for pos, title in enumerate(self.titles):
            for window in title.availability:
                if window.open_at(now):
                    countries.setdefault(window.country, np.zeros(len(self.titles), np.bool_))[
                        pos
                    ] = True
                boundaries += [b for b in (window.starts_at, window.ends_at) if b and b > now]
        self._countries = countries
        self._next_boundary = min(boundaries, default=None)
        self._visible_cache.clear()
        self.availability_epoch += 1

    def visible(self, viewer: Viewer) -> Mask:
        """Published, available in the viewer's country now, and within the maturity cap."""
        now = _now()
        if self._next_boundary is not None and now >= self._next_boundary:
            self._rebuild_availability(now)
        cached = self._visible_cache.get(viewer)
        if cached is None:
            country = self._countries.get(viewer.country)
            cached = self.published & (
                country if country is not None else np.zeros(len(self.titles), np.bool_)
            )
            if viewer.maturity_cap is not None:
                cached = cached & (self.level <= LEVEL[viewer.maturity_cap])
            self._visible_cache[viewer] = cached
        return cached

    def available_in(self, pos: int, country: str) -> bool:
        mask = self._countries.get(country)
        return bool(mask is not None and mask[pos])

    def filtered(
        self,
        viewer: Viewer,
        *,
        genre: str | None = None,
        type_: str | None = None,
        rating: str | None = None,
        language: str | None = None,
    ) -> Mask:
        mask = self.visible(viewer)
        empty = np.zeros(len(self.titles), np.bool_)
        if genre is not None:
            column = _GENRE_INDEX.get(genre)
            mask = mask & (self.genre_matrix[:, column] > 0) if column is not None else empty
        if type_ is not None:
            mask = mask & self._types.get(type_, empty)
        if rating is not None:
            # A rating filter means "this rating and below" (what a parent filtering means).
            mask = mask & (self.level <= LEVEL[rating])
        if language is not None:
            mask = mask & self._languages.get(language, empty)
        return mask

    @staticmethod
    def in_order(order: Positions, mask: Mask) -> Positions:
        """The positions of ``order`` that ``mask`` keeps, order preserved."""
        return order[mask[order]]

    def get(self, title_id: str) -> Title | None:
        pos = self.by_id.get(title_id)
        return None if pos is None else self.titles[pos]

    def with_changes(self, changed: Iterable[Title], removed: Sequence[str]) -> CatalogSnapshot:
        """A new snapshot with titles upserted and removed; every position keeps its title."""
        titles = list(self.titles)
        index = {title.id: pos for pos, title in enumerate(titles)}
        tombstones = set(self.tombstones)
        for title in changed:
            pos = index.get(title.id)
            if pos is None:
                index[title.id] = pos = len(titles)
                titles.append(title)
            titles[pos] = title
            tombstones.discard(pos)
        tombstones |= {index[title_id] for title_id in removed if title_id in index}
        return CatalogSnapshot(titles, self.version + 1, frozenset(tombstones))
