"""Seed A's watchlist and seed B's my list: two vocabularies, one list per profile."""

from __future__ import annotations

from typing import Annotated

import msgspec

from api import params
from api.catalog import service as catalog
from api.catalog.access import viewer_for
from api.catalog.models import Artwork
from api.catalog.responses import ContentItem
from api.deps import Deps
from api.errors import InvalidRequest, NotFound
from api.http import Request, Response, Route, json_response
from api.lists import service
from api.wire import RequestBody, ResponseBody, decode, iso
from core import trending

TitleId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AddToWatchlist(RequestBody, kw_only=True):
    content_id: TitleId


class AddToMyList(RequestBody, kw_only=True):
    title_id: TitleId


class WatchlistItem(ContentItem, kw_only=True):
    added_at: str


class Watchlist(ResponseBody, kw_only=True):
    profile_id: str
    watchlist: list[WatchlistItem]


class MyListItem(ResponseBody, kw_only=True):
    kind: str
    title_id: str
    name: str
    type: str
    artwork: Artwork
    maturity_rating: str
    added_at_ms: int


class MyList(ResponseBody, kw_only=True):
    items: list[MyListItem]
    next_cursor: str | None


class Ok(ResponseBody):
    ok: bool = True


def routes(deps: Deps) -> list[Route]:
    async def add(req: Request, title_id: str) -> None:
        viewer, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        catalog.title_for(await deps.catalog.ready(), viewer, title_id)  # exists and allowed
        if await service.add(
            deps.db, account_id=req.account_id, profile_id=profile.id, title_id=title_id
        ):
            await trending.record(deps.redis, title_id, "list_add")

    async def remove(req: Request, title_id: str) -> None:
        _, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        await service.remove(deps.db, profile_id=profile.id, title_id=title_id)

    async def visible_entries(req: Request) -> list[tuple[service.ListEntry, int]]:
        """The list, newest first, without titles the viewer may no longer see."""
        viewer, profile = await viewer_for(deps, req, req.path_params["profile_id"])
        assert profile is not None
        snapshot = await deps.catalog.ready()
        visible = snapshot.visible(viewer)
        return [
            (entry, pos)
            for entry in await service.entries(deps.db, profile_id=profile.id)
            if (pos := snapshot.by_id.get(entry.title_id)) is not None and visible[pos]
        ]

    async def get_watchlist(req: Request) -> Response:
        snapshot = deps.catalog.snapshot
        items = [
            WatchlistItem(
                **msgspec.structs.asdict(ContentItem.of(snapshot.titles[pos])),
                added_at=iso(entry.added_at),
            )
            for entry, pos in await visible_entries(req)
        ]
        return json_response(Watchlist(profile_id=req.path_params["profile_id"], watchlist=items))

    async def post_watchlist(req: Request) -> Response:
        body = decode(req.body, AddToWatchlist)
        await add(req, body.content_id)
        return json_response(Ok())

    async def delete_watchlist(req: Request) -> Response:
        await remove(req, req.path_params["content_id"])
        return Response(status=204)

    async def get_mylist(req: Request) -> Response:
        limit = params.integer(req, "limit", default=50, low=1, high=100)
        offset = _offset(params.text(req, "cursor", max_length=32))
        entries = await visible_entries(req)
        snapshot = deps.catalog.snapshot
        page = entries[offset : offset + limit]
        items = [
            MyListItem(
                kind="title",
                title_id=snapshot.titles[pos].id,
                name=snapshot.titles[pos].name,
                type=snapshot.titles[pos].type,
                artwork=snapshot.titles[pos].artwork,
                maturity_rating=snapshot.titles[pos].maturity_rating,
                added_at_ms=int(entry.added_at.timestamp() * 1000),
            )
            for entry, pos in page
        ]
        more = offset + limit < len(entries)
        return json_response(
            MyList(items=items, next_cursor=f"o_{offset + limit}" if more else None)
        )

    async def post_mylist(req: Request) -> Response:
        body = decode(req.body, AddToMyList)
        await add(req, body.title_id)
        return json_response(Ok())

    async def delete_mylist(req: Request) -> Response:
        await remove(req, req.path_params["title_id"])
        return json_response(Ok())

    watchlist = "/v1/users/profiles/{profile_id}/watchlist"
    mylist = "/v1/profiles/{profile_id}/mylist"
    return [
        Route(
            "GET",
            watchlist,
            get_watchlist,
            rate_class="content",
            summary="The profile's watchlist (seed A), newest first",
            responses={200: Watchlist},
            errors=(NotFound,),
        ),
        Route(
            "POST",
            watchlist,
            post_watchlist,
            rate_class="content",
            summary="Add a title to the watchlist",
            body=AddToWatchlist,
            responses={200: Ok},
            errors=(NotFound,),
        ),
        Route(
            "DELETE",
            watchlist + "/{content_id}",
            delete_watchlist,
            rate_class="content",
            summary="Remove a title from the watchlist",
            responses={204: None},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            mylist,
            get_mylist,
            rate_class="content",
            summary="The profile's list (seed B), newest first, by cursor",
            params=(
                params.int_param("limit", low=1, high=100),
                params.text_param("cursor", max_length=32),
            ),
            responses={200: MyList},
            errors=(NotFound,),
        ),
        Route(
            "POST",
            mylist,
            post_mylist,
            rate_class="content",
            summary="Add a title to the list",
            body=AddToMyList,
            responses={200: Ok},
            errors=(NotFound,),
        ),
        Route(
            "DELETE",
            mylist + "/{title_id}",
            delete_mylist,
            rate_class="content",
            summary="Remove a title from the list",
            responses={200: Ok},
            errors=(NotFound,),
        ),
    ]


def _offset(cursor: str | None) -> int:
    """Seed B cursors are opaque to clients; ours is ``o_<offset>`` into the ordered list."""
    if cursor is None:
        return 0
    if not cursor.startswith("o_") or not cursor[2:].isdigit():
        raise InvalidRequest("Unknown cursor", details="cursor: not a cursor this API issued")
    return int(cursor[2:])
