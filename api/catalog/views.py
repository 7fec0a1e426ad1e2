"""Seed A content discovery (browse, detail, trending, new releases) and seed B's title page."""

from __future__ import annotations

from api import params
from api.activity.trending import TrendingBoard
from api.catalog import service
from api.catalog.access import viewer_for
from api.catalog.models import GENRES, TYPES
from api.catalog.responses import ContentItem, ContentList, ContentPage, Pagination, TitlePage
from api.deps import Deps
from api.http import Request, Response, Route, json_response
from api.maturity import LEVEL
from api.wire import encode


def routes(deps: Deps, trending: TrendingBoard) -> list[Route]:
    async def browse(req: Request) -> Response:
        viewer, _ = await viewer_for(deps, req)
        page = params.integer(req, "page", default=1, low=1, high=100_000)
        limit = params.integer(req, "limit", default=20, low=1, high=100)
        filters = {
            "genre": params.choice(req, "genre", GENRES),
            "type_": params.choice(req, "type", TYPES),
            "rating": params.choice(req, "rating", LEVEL),
            "language": params.text(req, "language", max_length=16),
        }
        snapshot = await deps.catalog.ready()
        snapshot.visible(viewer)  # rolls availability forward before the cache key is taken

        def build() -> bytes:
            ordered = snapshot.in_order(
                snapshot.by_popularity, snapshot.filtered(viewer, **filters)
            )
            start = (page - 1) * limit
            items = [ContentItem.of(snapshot.titles[pos]) for pos in ordered[start : start + limit]]
            pagination = Pagination(
                page=page, limit=limit, total=len(ordered), has_next=start + limit < len(ordered)
            )
            return encode(ContentPage(content=items, pagination=pagination))

        key = ("browse", viewer, *filters.values(), page, limit)
        return Response(body=deps.catalog.cached(key, build, refresh=req.wants_fresh))

    async def content_detail(req: Request) -> Response:
        return await _title_page(req, req.path_params["content_id"])

    async def title_detail(req: Request) -> Response:
        return await _title_page(req, req.path_params["title_id"])

    async def _title_page(req: Request, title_id: str) -> Response:
        viewer, _ = await viewer_for(deps, req)
        snapshot = await deps.catalog.ready()
        title, availability = service.title_for(snapshot, viewer, title_id)
        return json_response(TitlePage.of(title, availability))

    async def trending_now(req: Request) -> Response:
        viewer, _ = await viewer_for(deps, req)
        limit = params.integer(req, "limit", default=20, low=1, high=100)
        snapshot = await deps.catalog.ready()
        positions = service.trending(snapshot, viewer, await trending.scores(), limit)
        return json_response(
            ContentList(content=[ContentItem.of(snapshot.titles[p]) for p in positions])
        )

    async def new_releases(req: Request) -> Response:
        viewer, _ = await viewer_for(deps, req)
        limit = params.integer(req, "limit", default=20, low=1, high=100)
        snapshot = await deps.catalog.ready()
        ordered = snapshot.in_order(snapshot.by_date_added, snapshot.visible(viewer))[:limit]
        return json_response(
            ContentList(content=[ContentItem.of(snapshot.titles[p]) for p in ordered])
        )

    return [
        Route("GET", "/v1/content/browse", browse, rate_class="content"),
        Route("GET", "/v1/content/trending", trending_now, rate_class="content"),
        Route("GET", "/v1/content/new-releases", new_releases, rate_class="content"),
        Route("GET", "/v1/content/{content_id}", content_detail, rate_class="content"),
        Route("GET", "/v1/titles/{title_id}", title_detail, rate_class="content"),
    ]
