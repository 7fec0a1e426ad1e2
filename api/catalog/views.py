"""Seed A content discovery (browse, detail, trending, new releases) and seed B's title page."""

from __future__ import annotations

from api import params
from api.catalog import service
from api.catalog.access import viewer_for
from api.catalog.models import GENRES, TYPES
from api.catalog.responses import (
    ContentDetail,
    ContentItem,
    ContentList,
    ContentPage,
    Pagination,
    TitlePage,
)
from api.deps import Deps
from api.errors import NotFound
from api.http import Request, Response, Route, json_response
from api.maturity import LEVEL
from api.wire import encode
from core.trending import TrendingBoard


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
            window = Pagination.window(page, limit)
            items = [ContentItem.of(snapshot.titles[pos]) for pos in ordered[window]]
            pagination = Pagination.of(page, limit, len(ordered))
            return encode(ContentPage(content=items, pagination=pagination))

        key = ("browse", viewer, *filters.values(), page, limit)
        return Response(body=deps.catalog.cached(key, build, refresh=req.wants_fresh))

    async def content_detail(req: Request) -> Response:
        """Seed A's shape (``genre``, ``duration``, counts for ``seasons``/``episodes``)."""
        viewer, _ = await viewer_for(deps, req)
        snapshot = await deps.catalog.ready()
        title, availability = service.title_for(snapshot, viewer, req.path_params["content_id"])
        return json_response(ContentDetail.detail(title, availability))

    async def title_detail(req: Request) -> Response:
        """Seed B's title page (``seasons`` is the list of seasons with their episodes)."""
        viewer, _ = await viewer_for(deps, req)
        snapshot = await deps.catalog.ready()
        title, availability = service.title_for(snapshot, viewer, req.path_params["title_id"])
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
        Route(
            "GET",
            "/v1/content/browse",
            browse,
            rate_class="content",
            summary="Browse the catalog, most popular first, with filters",
            params=(
                params.int_param("page", low=1, high=100_000),
                params.int_param("limit", low=1, high=100),
                params.choice_param("genre", GENRES),
                params.choice_param("type", TYPES),
                params.choice_param("rating", LEVEL),
                params.text_param("language", max_length=16),
                params.PROFILE_ID,
            ),
            responses={200: ContentPage},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            "/v1/content/trending",
            trending_now,
            rate_class="content",
            summary="What is being watched now",
            params=(params.int_param("limit", low=1, high=100), params.PROFILE_ID),
            responses={200: ContentList},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            "/v1/content/new-releases",
            new_releases,
            rate_class="content",
            summary="Newest additions first",
            params=(params.int_param("limit", low=1, high=100), params.PROFILE_ID),
            responses={200: ContentList},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            "/v1/content/{content_id}",
            content_detail,
            rate_class="content",
            params=(params.PROFILE_ID,),
            responses={200: ContentDetail},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            "/v1/titles/{title_id}",
            title_detail,
            rate_class="content",
            params=(params.PROFILE_ID,),
            responses={200: TitlePage},
            errors=(NotFound,),
        ),
    ]
