"""Seed A "Recommendation APIs": personal categories, trending, similar titles."""

from __future__ import annotations

from api import params
from api.catalog import service as catalog
from api.catalog.access import viewer_for
from api.catalog.snapshot import CatalogSnapshot
from api.deps import Deps
from api.errors import NotFound
from api.http import Request, Response, Route, json_response
from api.recommendations import engine, service
from api.wire import ResponseBody, iso, utc_now
from core.trending import TrendingBoard


class Recommended(ResponseBody, kw_only=True):
    id: str
    title: str
    type: str
    confidence_score: float
    thumbnail_url: str


class CategoryView(ResponseBody, kw_only=True):
    category: str
    kind: str
    content: list[Recommended]


class Recommendations(ResponseBody, kw_only=True):
    recommendations: list[CategoryView]
    generated_at: str
    profile_id: str | None = None
    content_id: str | None = None


def _items(snapshot: CatalogSnapshot, ranked: list[tuple[int, float]]) -> list[Recommended]:
    return [
        Recommended(
            id=snapshot.titles[pos].id,
            title=snapshot.titles[pos].name,
            type=snapshot.titles[pos].type,
            confidence_score=score,
            thumbnail_url=snapshot.titles[pos].artwork.thumbnail,
        )
        for pos, score in ranked
    ]


def routes(deps: Deps, trending: TrendingBoard) -> list[Route]:
    async def personal(req: Request) -> Response:
        viewer, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        per_row = params.integer(req, "limit", default=20, low=1, high=50)
        snapshot = await deps.catalog.ready()
        signals = await service.signals_for(deps, snapshot, profile.id)
        rows = await service.categories(
            deps,
            snapshot,
            snapshot.visible(viewer),
            signals,
            profile_name=profile.name,
            per_row=per_row,
        )
        body = Recommendations(
            profile_id=profile.id,
            recommendations=[
                CategoryView(category=r.name, kind=r.kind, content=_items(snapshot, r.items))
                for r in rows
            ],
            generated_at=iso(utc_now()),
        )
        return json_response(body)

    async def trending_now(req: Request) -> Response:
        viewer, _ = await viewer_for(deps, req)
        limit = params.integer(req, "limit", default=20, low=1, high=50)
        snapshot = await deps.catalog.ready()
        scores = await trending.scores()
        positions = catalog.trending(snapshot, viewer, scores, limit)
        peak = max(scores.values(), default=0.0)
        ranked = [
            (
                int(p),
                round(scores.get(snapshot.titles[p].id, 0.0) / peak, 4)
                if peak
                else round(float(snapshot.popularity[p]), 4),
            )
            for p in positions
        ]
        category = CategoryView(
            category="Trending Now", kind="trending", content=_items(snapshot, ranked)
        )
        return json_response(
            Recommendations(recommendations=[category], generated_at=iso(utc_now()))
        )

    async def similar(req: Request) -> Response:
        viewer, _ = await viewer_for(deps, req)
        limit = params.integer(req, "limit", default=20, low=1, high=50)
        snapshot = await deps.catalog.ready()
        title, _ = catalog.title_for(snapshot, viewer, req.path_params["content_id"])
        pos = snapshot.by_id[title.id]
        scores = engine.blend_cowatch(
            snapshot, engine.similarity(snapshot, pos), await service.cowatch(deps.redis, title.id)
        )
        ranked = engine.top(scores, snapshot.visible(viewer), limit)
        category = CategoryView(
            category=f"More like {title.name}", kind="similar", content=_items(snapshot, ranked)
        )
        return json_response(
            Recommendations(
                content_id=title.id, recommendations=[category], generated_at=iso(utc_now())
            )
        )

    return [
        Route(
            "GET",
            "/v1/recommendations/trending",
            trending_now,
            rate_class="content",
            summary="Trending titles with a confidence score",
            params=(params.int_param("limit", low=1, high=50), params.PROFILE_ID),
            responses={200: Recommendations},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            "/v1/recommendations/similar/{content_id}",
            similar,
            rate_class="content",
            summary="Titles like this one",
            params=(params.int_param("limit", low=1, high=50), params.PROFILE_ID),
            responses={200: Recommendations},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            "/v1/recommendations/{profile_id}",
            personal,
            rate_class="content",
            summary="Personal categories for a profile",
            params=(params.int_param("limit", low=1, high=50),),
            responses={200: Recommendations},
            errors=(NotFound,),
        ),
    ]
