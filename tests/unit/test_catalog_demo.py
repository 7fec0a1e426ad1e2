"""The demo catalog is reproducible, plausible, and cheap enough to build at 100,000 titles.

Load tests and search depend on these properties; no database is needed to check them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import msgspec
import pytest

from api.catalog.demo import COUNTRIES, REFERENCE_NOW, generate
from api.catalog.models import GENRES, Asset, Title
from api.maturity import KIDS_CAP, allows
from core.storage import to_document

MPAA = {"G", "PG", "PG-13", "R", "NC-17"}
TV = {"TV-Y", "TV-Y7", "TV-G", "TV-PG", "TV-14", "TV-MA"}
KIDS_GENRES = {"kids", "family", "animation"}

Catalog = list[tuple[Title, list[Asset]]]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return list(generate(2000))


def _encoded(items: Catalog) -> bytes:
    return msgspec.json.encode(items)


def test_same_seed_same_catalog_other_seed_differs() -> None:
    assert _encoded(list(generate(300))) == _encoded(list(generate(300)))
    assert _encoded(list(generate(300, seed=8))) != _encoded(list(generate(300)))


def test_a_prefix_is_stable_across_counts(catalog: Catalog) -> None:
    assert _encoded(list(generate(100))) == _encoded(catalog[:100])


def test_type_mix(catalog: Catalog) -> None:
    counts = Counter(title.type for title, _ in catalog)
    assert abs(counts["movie"] / len(catalog) - 0.6) < 0.05
    assert abs(counts["series"] / len(catalog) - 0.3) < 0.05
    assert abs(counts["documentary"] / len(catalog) - 0.1) < 0.03


def test_ids_and_assets(catalog: Catalog) -> None:
    asset_ids = [asset.id for _, assets in catalog for asset in assets]
    assert len(asset_ids) == len(set(asset_ids))
    assert [title.id for title, _ in catalog[:3]] == ["t_000001", "t_000002", "t_000003"]
    for title, assets in catalog:
        assert all(asset.title_id == title.id for asset in assets)
        if title.type == "series":
            _check_series(title, assets)
        else:
            assert title.asset_id == f"a_{title.id[2:]}_m" and not title.seasons
            assert [(a.id, a.duration_ms) for a in assets] == [
                (title.asset_id, title.duration_s * 1000)
            ]


def _check_series(title: Title, assets: list[Asset]) -> None:
    assert title.asset_id is None
    assert 1 <= len(title.seasons) <= 6
    assert all(6 <= len(season.episodes) <= 12 for season in title.seasons)
    by_id = {asset.id: asset for asset in assets}
    assert len(by_id) == title.episode_count
    for season in title.seasons:
        for episode in season.episodes:
            asset = by_id[episode.asset_id]
            assert (
                episode.asset_id == f"a_{title.id[2:]}_s{season.season:02d}e{episode.episode:02d}"
            )
            assert (asset.season, asset.episode) == (season.season, episode.episode)
            assert asset.duration_ms == episode.duration_s * 1000
            assert 20 * 60 <= episode.duration_s <= 60 * 60


def test_durations_by_type(catalog: Catalog) -> None:
    bounds = {"movie": (80, 171), "documentary": (40, 111), "series": (20, 61)}
    for title, _ in catalog:
        low, high = bounds[title.type]
        assert low * 60 <= title.duration_s < high * 60


def test_genres_and_ratings(catalog: Catalog) -> None:
    for title, _ in catalog:
        assert 1 <= len(title.genres) <= 3 and set(title.genres) <= set(GENRES)
        assert len(set(title.genres)) == len(title.genres)
        assert (title.type == "documentary") == ("documentary" in title.genres)
        assert title.maturity_rating in (MPAA if title.type == "movie" else TV)
        if KIDS_GENRES & set(title.genres):
            assert allows(KIDS_CAP, title.maturity_rating), (title.id, title.maturity_rating)
    ratings = [title.maturity_rating for title, _ in catalog]
    kids_safe = sum(allows("TV-PG", rating) for rating in ratings) / len(ratings)
    mature = sum(rating in {"R", "NC-17", "TV-MA"} for rating in ratings) / len(ratings)
    assert kids_safe > 0.2 and mature > 0.2


def test_availability_has_gaps_and_windows(catalog: Catalog) -> None:
    missing = windowed = 0
    for title, _ in catalog:
        countries = [window.country for window in title.availability]
        assert (
            countries and len(countries) == len(set(countries)) and set(countries) <= set(COUNTRIES)
        )
        missing += len(countries) < len(COUNTRIES)
        bounded = [w for w in title.availability if w.starts_at or w.ends_at]
        windowed += bool(bounded)
    assert missing / len(catalog) > 0.1
    assert 0.02 < windowed / len(catalog) < 0.1
    shapes = {_window_shape(title) for title, _ in catalog} - {None}
    assert shapes == {"future", "expired", "open"}


def _window_shape(title: Title) -> str | None:
    window = title.availability[0]
    if window.starts_at is None and window.ends_at is None:
        return None
    if window.starts_at is not None and window.starts_at > REFERENCE_NOW:
        return "future"
    return "open" if window.open_at(REFERENCE_NOW) else "expired"


def test_other_fields(catalog: Catalog) -> None:
    for title, _ in catalog:
        assert 1960 <= title.release_year <= 2026
        assert datetime(2020, 1, 1, tzinfo=REFERENCE_NOW.tzinfo) <= title.date_added
        assert title.date_added < REFERENCE_NOW and title.date_added.year >= title.release_year
        assert 0.0 <= title.popularity < 1.0
        assert 1 <= len(title.languages) <= 3 and len(set(title.languages)) == len(title.languages)
        assert title.artwork.poster.endswith(f"/static/artwork/{title.id}/poster.jpg")
        assert title.cast and title.director and title.name and title.synopsis
    unpublished = sum(not title.published for title, _ in catalog)
    assert 0 < unpublished < len(catalog) * 0.03
    popularity = sorted(title.popularity for title, _ in catalog)
    assert popularity[len(popularity) // 2] < 0.2 < popularity[-1]  # a long tail


def test_names_are_varied(catalog: Catalog) -> None:
    names = {title.name for title, _ in catalog}
    words = {word for name in names for word in name.split()}
    assert len(names) > len(catalog) * 0.8
    assert len(words) > 400


def test_base_url_and_document_round_trip() -> None:
    title, _ = next(generate(1, base_url="https://cdn.example/"))
    assert title.artwork.thumbnail == "https://cdn.example/static/artwork/t_000001/thumbnail.jpg"
    doc = to_document(title)
    assert doc["_id"] == "t_000001" and isinstance(doc["date_added"], datetime)
    assert msgspec.convert(doc, Title) == title


def test_a_large_catalog_streams_title_by_title() -> None:
    """Generation is lazy (the loader's memory stays flat); its speed is a benchmark's business
    (docs/benchmarks.md), not a timed assertion."""
    titles = assets = 0
    for _, title_assets in generate(20_000):
        titles += 1
        assets += len(title_assets)
    assert titles == 20_000 and assets > titles
