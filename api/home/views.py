"""Seed B's home screen: personalized rows for one profile on one kind of device."""

from __future__ import annotations

from api import params
from api.catalog import service as catalog
from api.catalog.access import viewer_for
from api.catalog.models import Artwork, Title
from api.deps import Deps
from api.errors import InvalidRequest, NotFound
from api.http import Request, Response, Route, json_response
from api.lists import service as lists
from api.recommendations import service as recommendations
from api.wire import ResponseBody
from core.trending import TrendingBoard

# Items per row: a TV shows long rows, a phone short ones.
ROW_LENGTH = {"tv": 20, "web": 15, "tablet": 12, "mobile": 10, "console": 20}


class HomeItem(ResponseBody, kw_only=True):
    kind: str
    title_id: str
    name: str
    type: str
    maturity_rating: str
    genres: list[str]
    artwork: Artwork
    # continue_watching only:
    asset_id: str | None = None
    position_ms: int | None = None
    duration_ms: int | None = None
    progress: float | None = None


class Row(ResponseBody, kw_only=True):
    type: str
    title: str
    items: list[HomeItem]


class Home(ResponseBody, kw_only=True):
    rows: list[Row]
    profile_id: str
    device: str
    request_id: str


def _item(title: Title, **extra: object) -> HomeItem:
    return HomeItem(
        kind="title",
        title_id=title.id,
        name=title.name,
        type=title.type,
        maturity_rating=title.maturity_rating,
        genres=title.genres,
        artwork=title.artwork,
        **extra,  # type: ignore[arg-type]
    )


def routes(deps: Deps, trending: TrendingBoard) -> list[Route]:
    async def home(req: Request) -> Response:
        if params.text(req, "profile_id") is None:
            raise InvalidRequest("profile_id is required", details="profile_id: missing")
        device = params.choice(req, "device", ROW_LENGTH) or "web"
        length = ROW_LENGTH[device]
        viewer, profile = await viewer_for(deps, req)
        assert profile is not None
        snapshot = await deps.catalog.ready()
        visible = snapshot.visible(viewer)
        signals = await recommendations.signals_for(deps, snapshot, profile.id)

        resumable: list[HomeItem] = []
        for viewing in signals.viewings:  # newest first; one entry per title
            pos = snapshot.by_id.get(viewing.title_id)
            if viewing.watched or pos is None or not visible[pos]:
                continue
            if any(item.title_id == viewing.title_id for item in resumable):
                continue
            resumable.append(
                _item(
                    snapshot.titles[pos],
                    asset_id=viewing.asset_id,
                    position_ms=viewing.position_ms,
                    duration_ms=viewing.duration_ms,
                    progress=round(viewing.position_ms / max(1, viewing.duration_ms), 4),
                )
            )
        rows = [Row(type="continue_watching", title="Continue Watching", items=resumable[:length])]

        categories = await recommendations.categories(
            deps, snapshot, visible, signals, profile_name=profile.name, per_row=length, anchors=1
        )
        for category in categories:
            rows.append(
                Row(
                    type=category.kind,
                    title=category.name,
                    items=[_item(snapshot.titles[pos]) for pos, _ in category.items],
                )
            )
            if category.kind == "top_picks":
                hot = catalog.trending(snapshot, viewer, await trending.scores(), length)
                rows.append(
                    Row(
                        type="trending",
                        title="Trending Now",
                        items=[_item(snapshot.titles[int(p)]) for p in hot],
                    )
                )
        listed = [
            _item(snapshot.titles[pos])
            for entry in await lists.entries(deps.db, profile_id=profile.id)
            if (pos := snapshot.by_id.get(entry.title_id)) is not None and visible[pos]
        ]
        if listed:
            rows.insert(1, Row(type="my_list", title="My List", items=listed[:length]))
        return json_response(
            Home(rows=rows, profile_id=profile.id, device=device, request_id=req.request_id)
        )

    return [
        Route(
            "GET",
            "/v1/home",
            home,
            rate_class="content",
            summary="The home screen's rows for a profile on a kind of device",
            params=(
                params.text_param("profile_id", max_length=64, required=True),
                params.choice_param("device", ROW_LENGTH),
            ),
            responses={200: Home},
            errors=(NotFound,),
        )
    ]
