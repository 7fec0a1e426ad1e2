"""``GET /v1/search``: seed A's and seed B's shapes on one path, so both kinds of client work.

Every result carries both vocabularies (``id``/``title``/``match_score``/``thumbnail_url`` and
``kind``/``title_id``/``name``), the body has seed A's ``total_results`` and ``query`` and
seed B's ``next_cursor``. The cursor is a keyset position bound to the query it came from.
"""

from __future__ import annotations

import base64
import hashlib

import msgspec

from api import params
from api.catalog.access import viewer_for
from api.catalog.models import TYPES
from api.deps import Deps
from api.errors import InvalidRequest, NotFound
from api.http import Request, Response, Route
from api.search.index import Cursor
from api.wire import ResponseBody, encode


class SearchResult(ResponseBody, kw_only=True):
    id: str
    title: str
    type: str
    match_score: float
    thumbnail_url: str
    kind: str
    title_id: str
    name: str
    matched_field: str


class SearchResults(ResponseBody, kw_only=True):
    results: list[SearchResult]
    total_results: int
    query: str
    next_cursor: str | None


def _binding(query: str, type_: str | None) -> str:
    return hashlib.blake2s(f"{query}\x00{type_}".encode(), digest_size=4).hexdigest()


def encode_cursor(position: Cursor, query: str, type_: str | None) -> str:
    raw = msgspec.json.encode([*position, _binding(query, type_)])
    return "c_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, query: str, type_: str | None) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor.removeprefix("c_") + "===")
        score, popularity, pos, binding = msgspec.json.decode(
            raw, type=tuple[float, float, int, str]
        )
    except (ValueError, msgspec.DecodeError):
        raise InvalidRequest(
            "Unknown cursor", details="cursor: not a cursor this API issued"
        ) from None
    if binding != _binding(query, type_):
        raise InvalidRequest("The cursor belongs to another query", details="cursor: query changed")
    return score, popularity, pos


def routes(deps: Deps) -> list[Route]:
    async def search(req: Request) -> Response:
        query = params.text(req, "q", max_length=200)
        if query is None or not query.strip():
            raise InvalidRequest("q is required", details="q: missing")
        type_ = params.choice(req, "type", TYPES)
        limit = params.integer(req, "limit", default=10, low=1, high=50)
        cursor = params.text(req, "cursor", max_length=200)
        after = decode_cursor(cursor, query, type_) if cursor else None
        viewer, _ = await viewer_for(deps, req)
        snapshot = await deps.catalog.ready()
        visible = snapshot.visible(viewer)
        index = deps.catalog.index

        def build() -> bytes:
            hits, total = index.search(
                query, visible=visible, type_=type_, limit=limit + 1, after=after
            )
            page = hits[:limit]
            results = []
            for hit in page:
                title = snapshot.titles[hit.pos]
                results.append(
                    SearchResult(
                        id=title.id,
                        title=title.name,
                        type=title.type,
                        match_score=hit.score,
                        thumbnail_url=title.artwork.thumbnail,
                        kind="title",
                        title_id=title.id,
                        name=title.name,
                        matched_field=hit.field,
                    )
                )
            more = len(hits) > limit
            next_cursor = encode_cursor(index.cursor(page[-1]), query, type_) if more else None
            return encode(
                SearchResults(
                    results=results, total_results=total, query=query, next_cursor=next_cursor
                )
            )

        key = ("search", viewer, query, type_, limit, cursor)
        return Response(body=deps.catalog.cached(key, build, refresh=req.wants_fresh))

    return [
        Route(
            "GET",
            "/v1/search",
            search,
            rate_class="content",
            summary="Search titles, cast, director and genre; typos and prefixes welcome",
            params=(
                params.text_param("q", max_length=200, required=True, description="The query"),
                params.choice_param("type", TYPES),
                params.int_param("limit", low=1, high=50),
                params.text_param("cursor", description="`next_cursor` of the previous page"),
                params.PROFILE_ID,
            ),
            responses={200: SearchResults},
            errors=(NotFound,),
        )
    ]
