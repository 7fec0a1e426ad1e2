"""In-memory catalog search: tantivy recalls candidates, rapidfuzz scores them.

Two stages because each library is good at one half. tantivy's inverted index finds the titles
that share (possibly misspelt or half-typed) words with the query in about a millisecond at
100k titles, but its BM25 and constant scores are not comparable between queries and say little
about *how well* a name matches. rapidfuzz then compares the whole query with every field value
of at most ``CANDIDATES`` titles, giving a bounded ``match_score`` in [0, 1] that the API can
show and page by.

Order is total: match_score desc, popularity desc, pos asc, so a keyset cursor of those three
values (``Cursor``) pages without repeats or gaps while the index is unchanged.

Not thread-safe: built for one asyncio thread; ``search`` is CPU-bound and short (~ms).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import tantivy
from rapidfuzz import fuzz, process

from api.catalog.models import Title

CANDIDATES = 1000  # titles re-ranked per query; also the cap on the reported total
_MAX_FETCH = 8 * CANDIDATES  # how deep to dig when `visible` hides most of tantivy's hits
_SKEW_MARGIN = 1.6  # first fetch assumes matches are this much less visible than the catalog
_WRITER_HEAP = 64_000_000  # bytes; one indexing thread keeps builds deterministic

FIELDS = ("name", "cast", "director", "genre")
_WEIGHTS = np.array([1.0, 0.9, 0.85, 0.7])  # match_score multiplier per field code
_BOOSTS = (4.0, 2.0, 1.5, 1.0)  # tantivy recall boosts, same order as FIELDS
_EXACT_BOOST = 2.0  # an exact word (BM25) outranks a fuzzy or prefix one (constant 1)
_EXACT_NAME_BOOST = 50.0  # the whole query equals a title's name
_PREFIX_FACTOR = 0.9  # query is (fuzzily) the start of the value: autocomplete
_TOKEN_SET_FACTOR = 0.85  # whole words in any order (or a subset): below a prefix
_PARTIAL_FACTOR = 0.8  # query occurs somewhere inside the value
_COMMON_SHARE = 0.1  # a word in more titles than this is skipped when any word may match
_MAX_TOKEN_BYTES = 40  # tantivy's default tokenizer drops longer tokens

_TOKEN = re.compile(r"[^\W_]+")

Cursor = tuple[float, float, int]
"""Keyset position of a hit: (score, popularity, pos); see ``SearchIndex.cursor``."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class SearchHit(NamedTuple):
    pos: int  # position of the title in the sequence the index was built from
    score: float  # match_score in [0, 1], rounded to 4 decimals
    field: str  # "name" | "cast" | "director" | "genre": the field that matched best


def tokens(text: str) -> list[str]:
    """Split and lowercase like tantivy's default tokenizer, so query terms meet indexed ones."""
    return [t for t in _TOKEN.findall(text.lower()) if len(t.encode()) < _MAX_TOKEN_BYTES]


def normalize(text: str) -> str:
    return " ".join(tokens(text))


def edit_distance(token: str) -> int:
    """Typos tolerated in a token: none below 4 characters, where one edit is another word."""
    return 2 if len(token) >= 8 else 1 if len(token) >= 4 else 0


class _Scored(NamedTuple):
    scores: FloatArray  # per candidate, rounded match_score
    values: FloatArray  # per field value, weighted score
    starts: IntArray  # per candidate, offset of its first value in `values`
    codes: IntArray  # per field value, index into FIELDS


class _Word(NamedTuple):
    text: str
    prefix: bool  # the query's last word: match it as the start of a longer word too


class _FieldTable:
    """Normalized field values of every title, flattened so a candidate set gathers in numpy.

    Row ``pos`` is ``value_ids[start[pos] : start[pos] + count[pos]]`` (ids into ``strings``)
    with matching field ``codes``. Replacing a row appends; the table compacts itself once
    more than half of it is stale.
    """

    def __init__(self) -> None:
        self.strings: list[str] = []  # distinct values: each is scored once per query
        self._string_ids: dict[str, int] = {}
        self.value_ids: IntArray = np.zeros(0, dtype=np.int64)
        self.codes: IntArray = np.zeros(0, dtype=np.int64)
        self.start: IntArray = np.zeros(0, dtype=np.int64)
        self.count: IntArray = np.zeros(0, dtype=np.int64)

    def set_rows(self, rows: Mapping[int, list[tuple[int, str]] | None]) -> None:
        size = max(max(rows) + 1, len(self.start))
        self.start = np.concatenate([self.start, np.zeros(size - len(self.start), np.int64)])
        self.count = np.concatenate([self.count, np.zeros(size - len(self.count), np.int64)])
        ids: list[int] = []
        codes: list[int] = []
        for pos, pairs in rows.items():
            self.start[pos] = len(self.value_ids) + len(ids)
            self.count[pos] = len(pairs or ())
            ids.extend(self._intern(value) for _, value in pairs or ())
            codes.extend(code for code, _ in pairs or ())
        self.value_ids = np.concatenate([self.value_ids, np.array(ids, dtype=np.int64)])
        self.codes = np.concatenate([self.codes, np.array(codes, dtype=np.int64)])
        if len(self.value_ids) > 2 * int(self.count.sum()) + 1024:
            self._compact()

    def gather(self, positions: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """Value ids and field codes of ``positions``' rows, concatenated; each row's offset."""
        counts = self.count[positions]
        offsets = np.zeros(len(positions), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        shift = np.repeat(self.start[positions] - offsets, counts)
        flat = np.arange(int(counts.sum()), dtype=np.int64) + shift
        return self.value_ids[flat], self.codes[flat], offsets

    def _compact(self) -> None:
        live = np.flatnonzero(self.count).astype(np.int64)
        self.value_ids, self.codes, offsets = self.gather(live)
        self.start[live] = offsets

    def _intern(self, value: str) -> int:
        string_id = self._string_ids.setdefault(value, len(self.strings))
        if string_id == len(self.strings):
            self.strings.append(value)
        return string_id


class SearchIndex:
    """Search over a sequence of titles, addressed by their position in it."""

    def __init__(self, titles: Sequence[Title]) -> None:
        self._schema = _schema()
        self._index = tantivy.Index(self._schema)
        self._index.config_reader(reload_policy="Manual")
        self._writer = self._index.writer(heap_size=_WRITER_HEAP, num_threads=1)
        self._fields = _FieldTable()
        self._popularity: FloatArray = np.zeros(0)
        self._alive: BoolArray = np.zeros(0, dtype=bool)
        self._searcher = self._index.searcher()
        self.replace(dict(enumerate(titles)))

    def __len__(self) -> int:
        return int(self._alive.sum())

    def replace(self, changes: Mapping[int, Title | None]) -> None:
        """Upsert (a Title) or remove (None) titles by position; the next search sees them."""
        if not changes:
            return
        self._grow(max(changes) + 1)
        for pos, title in changes.items():
            if self._alive[pos]:  # by query: tantivy-py 0.27's by_term misses unsigned fields
                self._writer.delete_documents_by_query(self._term("pos", pos))
            if title is not None:
                self._writer.add_document(self._document(pos, title))
            self._popularity[pos] = title.popularity if title is not None else 0.0
            self._alive[pos] = title is not None
        self._fields.set_rows(
            {pos: None if t is None else list(_field_values(t)) for pos, t in changes.items()}
        )
        self._writer.commit()
        self._index.reload()
        self._searcher = self._index.searcher()

    def cursor(self, hit: SearchHit) -> Cursor:
        """The ``after`` value that continues a listing after ``hit``."""
        return (hit.score, float(self._popularity[hit.pos]), hit.pos)

    def search(
        self,
        query: str,
        *,
        visible: BoolArray | None = None,
        type_: str | None = None,
        limit: int = 10,
        after: Cursor | None = None,
    ) -> tuple[list[SearchHit], int]:
        """One page of hits in ranking order, and how many visible titles match (capped).

        ``visible[pos]`` says whether the caller may see a title (None: all); positions past its
        end are hidden. ``after`` is ``cursor(last hit of the previous page)``.
        """
        words = tokens(query)
        if not words or limit <= 0:
            return [], 0
        positions = self._recall(words, type_, visible)
        if not len(positions):
            return [], 0
        scored = self._score(" ".join(words), positions)
        order = self._rank(scored.scores, positions)
        if after is not None:
            order = order[self._after(scored.scores[order], positions[order], after)]
        page = order[:limit]
        return [self._hit(i, positions, scored) for i in page.tolist()], len(positions)

    # -- per-title data ------------------------------------------------------------------------

    def _grow(self, size: int) -> None:
        extra = size - len(self._alive)
        if extra > 0:
            self._popularity = np.concatenate([self._popularity, np.zeros(extra)])
            self._alive = np.concatenate([self._alive, np.zeros(extra, dtype=bool)])

    def _document(self, pos: int, title: Title) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_unsigned("pos", pos)
        doc.add_float("popularity", max(title.popularity, 0.0))
        doc.add_text("type", title.type)
        doc.add_text("name_exact", normalize(title.name))
        doc.add_text("name", title.name)
        for member in title.cast:
            doc.add_text("cast", member)
        doc.add_text("director", title.director)
        for genre in title.genres:
            doc.add_text("genre", genre)
        return doc

    # -- recall (tantivy) ----------------------------------------------------------------------

    def _recall(self, words: list[str], type_: str | None, visible: BoolArray | None) -> IntArray:
        """Up to CANDIDATES visible positions, from the strictest plan that finds any."""
        for plan, conjunctive in self._plans(words):
            positions = self._collect(self._query(plan, type_, conjunctive=conjunctive), visible)
            if len(positions):
                return positions
        return np.zeros(0, dtype=np.int64)

    def _plans(self, words: list[str]) -> Iterator[tuple[list[_Word], bool]]:
        """All words must match; else any of the distinctive words; else any word at all.

        The middle step skips words like "the" that occur in a large share of titles: in a
        disjunction they match nearly everything, cost milliseconds, and add nothing to ranking.
        """
        plan = [_Word(word, prefix=i == len(words) - 1) for i, word in enumerate(words)]
        yield plan, True
        if len(plan) == 1:
            return
        distinctive = [w for w in plan if not self._common(w.text)]
        if 0 < len(distinctive) < len(plan):
            yield distinctive, False
        yield plan, False

    def _common(self, word: str) -> bool:
        limit = self._searcher.num_docs * _COMMON_SHARE
        return any(self._searcher.doc_freq(field, word) > limit for field in FIELDS)

    def _query(self, words: list[_Word], type_: str | None, *, conjunctive: bool) -> tantivy.Query:
        Q, Occur = tantivy.Query, tantivy.Occur
        per_word = [self._word_query(w.text, prefix=w.prefix) for w in words]
        occur = Occur.Must if conjunctive else Occur.Should
        exact_name = self._term("name_exact", " ".join(w.text for w in words))
        clauses = [
            (Occur.Must, Q.boolean_query([(occur, q) for q in per_word])),
            (Occur.Should, Q.boost_query(exact_name, _EXACT_NAME_BOOST)),
        ]
        if type_ is not None:
            clauses.append((Occur.Must, Q.const_score_query(self._term("type", type_), 0.0)))
        return Q.boolean_query(clauses)

    def _word_query(self, word: str, *, prefix: bool) -> tantivy.Query:
        """One word against every field: exact (BM25), fuzzy and, for the last word, prefix."""
        Q = tantivy.Query
        distance = edit_distance(word)
        variants: list[tantivy.Query] = []
        for field, boost in zip(FIELDS, _BOOSTS, strict=True):
            variants.append(Q.boost_query(self._term(field, word), boost * _EXACT_BOOST))
            if distance or prefix:
                variants.append(Q.boost_query(self._fuzzy(field, word, distance, prefix), boost))
            if prefix and distance:  # an exact prefix beats a misspelt one
                variants.append(Q.boost_query(self._fuzzy(field, word, 0, True), boost * 1.5))
        return Q.disjunction_max_query(variants)

    def _fuzzy(self, field: str, word: str, distance: int, prefix: bool) -> tantivy.Query:
        return tantivy.Query.fuzzy_term_query(
            self._schema, field, word, distance=distance, transposition_cost_one=True, prefix=prefix
        )

    def _term(self, field: str, value: str | int) -> tantivy.Query:
        option = "freq" if field in FIELDS else "basic"  # BM25 wants term frequencies
        return tantivy.Query.term_query(self._schema, field, value, index_option=option)

    def _collect(self, query: tantivy.Query, visible: BoolArray | None) -> IntArray:
        """Tantivy's best matches minus hidden ones, fetching enough to survive the mask."""
        fetch = _fetch_size(visible)
        while True:
            result = self._searcher.search(
                query, limit=fetch, count=False, weight_by_field="popularity"
            )
            addresses = [address for _, address in result.hits]
            found = np.array(self._searcher.fast_field_values("pos", addresses), dtype=np.int64)
            kept = found[self._shown(found, visible)]
            if len(kept) >= CANDIDATES or len(found) < fetch or fetch >= _MAX_FETCH:
                return kept[:CANDIDATES]
            fetch = _fetch_size(visible, share=max(len(kept), 1) / fetch)  # as seen here

    def _shown(self, found: IntArray, visible: BoolArray | None) -> BoolArray:
        shown = self._alive[found]
        if visible is not None:
            inside = found < len(visible)
            shown &= inside
            shown[inside] &= visible[found[inside]]
        return shown

    # -- scoring (rapidfuzz) and ranking -------------------------------------------------------

    def _score(self, query: str, positions: IntArray) -> _Scored:
        """Score each distinct value once (cast, genres and names repeat), then per title."""
        ids, codes, starts = self._fields.gather(positions)
        distinct, inverse = np.unique(ids, return_inverse=True)
        strings = [self._fields.strings[i] for i in distinct.tolist()]
        weighted = similarity(query, strings)[inverse] * _WEIGHTS[codes]
        scores = np.maximum.reduceat(weighted, starts).round(4)
        return _Scored(scores, weighted, starts, codes)

    def _rank(self, scores: FloatArray, positions: IntArray) -> IntArray:
        order = np.lexsort((positions, -self._popularity[positions], -scores))
        return order.astype(np.int64)

    def _after(self, scores: FloatArray, positions: IntArray, after: Cursor) -> BoolArray:
        """Which of the ranked candidates come strictly after the cursor."""
        score, popularity, pos = after
        pops = self._popularity[positions]
        later = (pops < popularity) | ((pops == popularity) & (positions > pos))
        return np.asarray((scores < score) | ((scores == score) & later), dtype=np.bool_)

    def _hit(self, i: int, positions: IntArray, scored: _Scored) -> SearchHit:
        start = int(scored.starts[i])
        end = int(scored.starts[i + 1]) if i + 1 < len(scored.starts) else len(scored.values)
        best = start + int(np.argmax(scored.values[start:end]))
        field = FIELDS[int(scored.codes[best])]
        return SearchHit(int(positions[i]), float(scored.scores[i]), field)


def _fetch_size(visible: BoolArray | None, share: float | None = None) -> int:
    """Hits to ask tantivy for so that CANDIDATES of them are likely visible.

    ``share`` is the visible fraction: of the whole catalog at first, with a wide margin since
    a query's matches may skew towards hidden titles (a kids mask and the query "thriller"),
    then as observed in a first fetch that came up short.
    """
    if visible is None or not len(visible):
        return CANDIDATES
    if share is None:
        share = max(int(np.count_nonzero(visible)), 1) / len(visible) / _SKEW_MARGIN
    return max(CANDIDATES, min(_MAX_FETCH, math.ceil(CANDIDATES * 1.2 / share)))


def similarity(query: str, values: list[str]) -> FloatArray:
    """How well ``query`` matches each value, in [0, 1], before field weights.

    The best of: whole-string ratio (typos); ratio against the value's first len(query)
    characters (autocomplete); token-set ratio (whole words, any order, or a subset); partial
    ratio (a fragment from the middle). The last three are discounted so that only an exact
    value reaches 1.0, and the two fragment scores are squared so that a misspelt fragment
    ("crime" against "Crimson ...") falls well below an exact match in a weaker field.
    """
    if not values:
        return np.zeros(0)
    prefixes = [value[: len(query)] for value in values]
    best = _cdist(query, values, fuzz.ratio)
    np.maximum(best, _cdist(query, values, fuzz.token_set_ratio) * _TOKEN_SET_FACTOR, out=best)
    np.maximum(best, _cdist(query, prefixes, fuzz.ratio) ** 2 * _PREFIX_FACTOR, out=best)
    np.maximum(best, _cdist(query, values, fuzz.partial_ratio) ** 2 * _PARTIAL_FACTOR, out=best)
    return best


def _cdist(query: str, choices: list[str], scorer: Callable[..., float]) -> FloatArray:
    """Similarity of ``query`` to each choice, scaled to [0, 1]."""
    matrix = process.cdist([query], choices, scorer=scorer, dtype=np.float64)
    return np.asarray(matrix[0], dtype=np.float64) / 100.0


def _field_values(title: Title) -> Iterable[tuple[int, str]]:
    """(field code, normalized value) pairs; the name always comes first, even if empty."""
    yield 0, normalize(title.name)
    for member in title.cast:
        yield 1, normalize(member)
    if title.director:
        yield 2, normalize(title.director)
    for genre in title.genres:
        yield 3, normalize(genre)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("pos", indexed=True, fast=True)
    builder.add_float_field("popularity", fast=True)
    builder.add_text_field("type", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("name_exact", tokenizer_name="raw", index_option="basic")
    for field in FIELDS:
        builder.add_text_field(field, index_option="freq")
    return builder.build()
