"""SearchIndex on a dozen hand-made titles: matching, ranking, filters, paging and edits.

The titles include near-misses ("Strange Days", "The Stranger") that are *more* popular than
the intended match, so typo and prefix tests show match quality beating popularity.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from api.catalog.models import Artwork, Title, TitleType, Window
from api.search.index import SearchHit, SearchIndex

ART = Artwork(poster="p", background="b", thumbnail="t")
ADDED = datetime(2024, 1, 1, tzinfo=UTC)


def title(
    n: int,
    name: str,
    *,
    type_: TitleType = "movie",
    genres: tuple[str, ...] = ("drama",),
    cast: tuple[str, ...] = (),
    director: str = "Jane Doe",
    popularity: float = 0.1,
) -> Title:
    return Title(
        id=f"t_{n:06d}",
        type=type_,
        name=name,
        synopsis="",
        genres=list(genres),
        maturity_rating="PG-13",
        cast=list(cast),
        director=director,
        release_year=2020,
        languages=["en"],
        artwork=ART,
        date_added=ADDED,
        availability=[Window(country="US")],
        popularity=popularity,
        duration_s=3600,
    )


TITLES = [
    title(
        0,
        "Stranger Things",
        type_="series",
        genres=("sci-fi", "horror"),
        cast=("Winona Ryder", "David Harbour", "Millie Bobby Brown"),
        director="Matt Duffer",
        popularity=0.5,
    ),
    title(
        1, "Strange Days", genres=("sci-fi", "thriller"), cast=("Ralph Fiennes",), popularity=0.9
    ),
    title(2, "The Stranger", genres=("crime",), cast=("Orson Welles",), popularity=0.8),
    title(
        3,
        "Inception",
        genres=("sci-fi", "action"),
        cast=("Leonardo DiCaprio",),
        director="Christopher Nolan",
        popularity=0.7,
    ),
    title(
        4,
        "Interstellar",
        genres=("sci-fi", "adventure"),
        cast=("Matthew McConaughey", "Anne Hathaway"),
        director="Christopher Nolan",
        popularity=0.6,
    ),
    title(
        5, "The Office", type_="series", genres=("comedy",), cast=("Steve Carell",), popularity=0.4
    ),
    title(6, "Parks and Recreation", type_="series", genres=("comedy",), cast=("Amy Poehler",)),
    title(7, "Superbad", genres=("comedy",), cast=("Jonah Hill", "Michael Cera"), popularity=0.3),
    title(8, "Planet Earth", type_="documentary", genres=("documentary",), popularity=0.2),
    title(9, "The Dark Knight", genres=("action", "crime"), director="Christopher Nolan"),
    title(10, "Dark", type_="series", genres=("sci-fi", "mystery"), popularity=0.05),
    title(11, "Stardust", genres=("fantasy",), cast=("Claire Danes",), popularity=0.95),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex(TITLES)


def names(hits: list[SearchHit]) -> list[str]:
    return [TITLES[hit.pos].name for hit in hits]


def test_exact_title_ranks_first_with_full_score(index: SearchIndex) -> None:
    for pos, expected in ((0, "Stranger Things"), (10, "Dark"), (2, "the stranger")):
        hits, _ = index.search(expected)
        assert hits[0] == SearchHit(pos, 1.0, "name")
        assert all(hit.score < 1.0 for hit in hits[1:])


@pytest.mark.parametrize("query", ["stranegr things", "Strnger Things", "stranger thigns"])
def test_one_typo_still_finds_the_title_first(index: SearchIndex, query: str) -> None:
    hits, _ = index.search(query)
    assert hits[0].pos == 0
    assert 0.8 < hits[0].score < 1.0


def test_typo_in_a_single_word(index: SearchIndex) -> None:
    hits, _ = index.search("Intersteller")
    assert hits[0].pos == 4


def test_prefix_autocompletes(index: SearchIndex) -> None:
    hits, _ = index.search("stra")
    assert names(hits[:2]) == ["Strange Days", "Stranger Things"]  # equal match: popularity
    assert (hits[0].score, hits[0].field) == (0.9, "name")
    hits, _ = index.search("stranger th")
    assert hits[0].pos == 0
    hits, _ = index.search("inc")
    assert hits[0].pos == 3


def test_cast_member(index: SearchIndex) -> None:
    hits, total = index.search("Winona Ryder")
    assert (hits[0].pos, hits[0].field, hits[0].score) == (0, "cast", 0.9)
    assert total == 1
    hits, _ = index.search("harbour")  # surname alone
    assert (hits[0].pos, hits[0].field) == (0, "cast")


def test_director(index: SearchIndex) -> None:
    hits, total = index.search("christopher nolan")
    assert total == 3
    assert names(hits) == ["Inception", "Interstellar", "The Dark Knight"]  # by popularity
    assert {hit.field for hit in hits} == {"director"}


def test_genre(index: SearchIndex) -> None:
    hits, total = index.search("comedy")
    assert total == 3
    assert set(names(hits)) == {"The Office", "Parks and Recreation", "Superbad"}
    assert all(hit.field == "genre" and hit.score == 0.7 for hit in hits)


def test_type_filter(index: SearchIndex) -> None:
    hits, total = index.search("comedy", type_="series")
    assert total == 2
    assert {TITLES[hit.pos].type for hit in hits} == {"series"}
    assert index.search("comedy", type_="documentary") == ([], 0)


def test_visible_mask_hides_titles(index: SearchIndex) -> None:
    visible = np.ones(len(TITLES), dtype=bool)
    visible[0] = False
    hits, _ = index.search("stranger things", visible=visible)
    assert 0 not in {hit.pos for hit in hits}
    hits, total = index.search("christopher nolan", visible=visible[:4])  # short mask: rest hidden
    assert (names(hits), total) == (["Inception"], 1)


def test_no_match_and_empty_query(index: SearchIndex) -> None:
    assert index.search("zzzzqqq") == ([], 0)
    assert index.search("  !? ") == ([], 0)


def test_any_word_fallback_when_not_all_words_match(index: SearchIndex) -> None:
    hits, _ = index.search("superbad zzzzqqq")
    assert hits and hits[0].pos == 7


def test_keyset_paging_matches_one_big_page(index: SearchIndex) -> None:
    query = "s"  # a prefix of many names, cast members and genres
    everything, total = index.search(query, limit=100)
    assert total == len(everything) > 4
    paged: list[SearchHit] = []
    after = None
    while True:
        page, page_total = index.search(query, limit=2, after=after)
        assert page_total == total
        if not page:
            break
        paged.extend(page)
        after = index.cursor(page[-1])
    assert paged == everything
    assert len({hit.pos for hit in paged}) == len(paged)


def test_keyset_paging_through_exact_ties_goes_by_position() -> None:
    index = SearchIndex([title(n, "Twin Peaks") for n in range(5)])  # same score and popularity
    first, total = index.search("twin peaks", limit=2)
    second, _ = index.search("twin peaks", limit=2, after=index.cursor(first[-1]))
    rest, _ = index.search("twin peaks", limit=2, after=index.cursor(second[-1]))
    assert total == 5
    assert [hit.pos for hit in first + second + rest] == [0, 1, 2, 3, 4]


def test_scores_are_bounded_and_ordered(index: SearchIndex) -> None:
    for query in ("dark", "st", "nolan", "sci fi", "planet earht", "the office"):
        hits, _ = index.search(query, limit=50)
        scores = [hit.score for hit in hits]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)


def test_replace_adds_changes_and_removes() -> None:
    index = SearchIndex(TITLES[:5])
    new = title(5, "Arrival", genres=("sci-fi",), director="Denis Villeneuve")
    index.replace({5: new, 3: title(3, "Inception Redux", popularity=0.7), 1: None})
    assert index.search("arrival")[0][0] == SearchHit(5, 1.0, "name")
    assert index.search("inception redux")[0][0].pos == 3
    assert index.search("inception")[0][0].score < 1.0  # old name is gone
    assert 1 not in {hit.pos for hit in index.search("strange days")[0]}
    assert index.search("ralph fiennes") == ([], 0)
    index.replace({1: TITLES[1]})  # and back again
    assert index.search("strange days")[0][0] == SearchHit(1, 1.0, "name")
    assert len(index) == 6


def test_many_edits_keep_results_right() -> None:
    index = SearchIndex(TITLES)
    for n in range(300):  # enough stale rows to make the index compact its field table
        index.replace({n % 3: title(n % 3, f"Edition {n}", cast=("Ann Example",) * 4)})
    hits, total = index.search("ann example")
    assert (total, {hit.pos for hit in hits}) == (3, {0, 1, 2})
    assert index.search("edition 299")[0][0] == SearchHit(2, 1.0, "name")
    assert index.search("winona ryder") == ([], 0)
    assert index.search("inception")[0][0] == SearchHit(3, 1.0, "name")
