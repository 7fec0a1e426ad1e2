"""Admin catalog editing: seed B's create/publish, seed A's metadata update and delete.

Each write goes to MongoDB first, then is announced on the change stream; every replica's
snapshot and search index pick it up within about a second. A title is published only once it
has ready media (409 otherwise); deleting one removes its media and jobs too (:mod:`api.ingest`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from api.catalog.models import Title, TitleType, Window
from api.catalog.responses import Availability, ContentDetail, TitlePage
from api.catalog.store import announce_changes
from api.catalog.titles import Genre, Name, Person, Seconds, Text, Year, check_genres, new_title
from api.deps import Deps
from api.errors import Conflict, InvalidRequest, NotFound
from api.http import Request, Response, Route, json_response
from api.ingest import service as ingest_service
from api.maturity import MaturityRating
from api.wire import CountryCode, LanguageTag, RequestBody, ResponseBody, decode, utc_now
from core.storage import to_document


class CreateTitle(RequestBody, kw_only=True):
    name: Name
    type: TitleType
    synopsis: Text = ""
    genres: Annotated[list[Genre], msgspec.Meta(min_length=1, max_length=5)]
    maturity_rating: MaturityRating
    cast: Annotated[list[Person], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    director: Person = "Unknown"
    release_year: Year
    languages: Annotated[list[LanguageTag], msgspec.Meta(min_length=1, max_length=20)] = (
        msgspec.field(default_factory=lambda: ["en-US"])
    )
    duration_s: Seconds = 3600


class Publish(RequestBody, kw_only=True):
    countries: Annotated[list[CountryCode], msgspec.Meta(min_length=1, max_length=250)]
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class Published(ResponseBody, kw_only=True):
    ok: bool = True
    title_id: str
    countries: list[str]


class UpdateContent(RequestBody, kw_only=True):
    """Seed A's vocabulary for metadata edits; omitted fields keep their value."""

    title: Name | None = None
    description: Text | None = None
    genre: Annotated[list[Genre], msgspec.Meta(min_length=1, max_length=5)] | None = None
    rating: MaturityRating | None = None
    release_year: Year | None = None
    cast: Annotated[list[Person], msgspec.Meta(max_length=50)] | None = None
    director: Person | None = None


def routes(deps: Deps) -> list[Route]:
    base = deps.settings.public_base_url

    async def load(title_id: str) -> Title:
        doc = await deps.db.titles.find_one({"_id": title_id})
        if doc is None:
            raise NotFound("Title not found")
        return msgspec.convert(doc, Title)

    async def create(req: Request) -> Response:
        body = decode(req.body, CreateTitle)
        check_genres(body.genres, "genres")
        title = new_title(
            base,
            type=body.type,
            name=body.name,
            synopsis=body.synopsis,
            genres=body.genres,
            maturity_rating=body.maturity_rating,
            cast=body.cast,
            director=body.director,
            release_year=body.release_year,
            languages=body.languages,
            duration_s=body.duration_s,
        )
        await deps.db.titles.insert_one(to_document(title))
        await announce_changes(deps.redis, [title.id])
        unpublished = Availability(country="", playable=False, reason="NOT_PUBLISHED")
        return json_response(TitlePage.of(title, unpublished), status=201)

    async def publish(req: Request) -> Response:
        body = decode(req.body, Publish)
        if body.starts_at and body.ends_at and body.ends_at <= body.starts_at:
            raise InvalidRequest(
                "The window ends before it starts", details="ends_at: before starts_at"
            )
        title = await load(req.path_params["title_id"])
        if title.asset_id is None and not title.seasons:
            raise Conflict(
                "The title has no ready media yet: upload it and wait for processing",
                details="title_id: no ready asset",
            )
        windows = [
            Window(country=c, starts_at=body.starts_at, ends_at=body.ends_at)
            for c in sorted(set(body.countries))
        ]
        await deps.db.titles.update_one(
            {"_id": title.id},
            {
                "$set": {
                    "published": True,
                    "availability": [
                        msgspec.to_builtins(w, builtin_types=(datetime,)) for w in windows
                    ],
                    "updated_at": utc_now(),
                }
            },
        )
        await announce_changes(deps.redis, [title.id])
        return json_response(Published(title_id=title.id, countries=[w.country for w in windows]))

    async def update(req: Request) -> Response:
        body = decode(req.body, UpdateContent)
        check_genres(body.genre, "genre")
        renames = {
            "title": "name",
            "description": "synopsis",
            "genre": "genres",
            "rating": "maturity_rating",
        }
        changes = {
            renames.get(name, name): value
            for name in body.__struct_fields__
            if (value := getattr(body, name)) is not None
        }
        title = await load(req.path_params["content_id"])
        if changes:
            await deps.db.titles.update_one(
                {"_id": title.id}, {"$set": {**changes, "updated_at": utc_now()}}
            )
            await announce_changes(deps.redis, [title.id])
        updated = msgspec.structs.replace(title, **changes)
        availability = Availability(country="", playable=updated.published, reason=None)
        return json_response(ContentDetail.detail(updated, availability))  # a seed A route

    async def delete(req: Request) -> Response:
        title = await load(req.path_params["content_id"])
        await ingest_service.delete_media(deps, title.id)
        await deps.db.titles.delete_one({"_id": title.id})
        await deps.db.assets.delete_many({"title_id": title.id})
        await announce_changes(deps.redis, [title.id])
        return Response(status=204)

    return [
        Route(
            "POST",
            "/v1/admin/titles",
            create,
            auth="admin",
            rate_class="content",
            summary="Create an unpublished title (seed B)",
            body=CreateTitle,
            responses={201: TitlePage},
        ),
        Route(
            "POST",
            "/v1/admin/publish/{title_id}",
            publish,
            auth="admin",
            rate_class="content",
            summary="Publish a title with ready media in countries, optionally in a window",
            body=Publish,
            responses={200: Published},
            errors=(NotFound, Conflict),
        ),
        Route(
            "PUT",
            "/v1/admin/content/{content_id}",
            update,
            auth="admin",
            rate_class="content",
            summary="Edit a title's metadata (seed A); omitted fields keep their value",
            body=UpdateContent,
            responses={200: ContentDetail},
            errors=(NotFound,),
        ),
        Route(
            "DELETE",
            "/v1/admin/content/{content_id}",
            delete,
            auth="admin",
            rate_class="content",
            summary="Delete a title with its media and jobs",
            responses={204: None},
            errors=(NotFound,),
        ),
    ]
