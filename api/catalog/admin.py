"""Admin catalog editing: seed B's create/publish, seed A's metadata update and delete.

Each write goes to MongoDB first, then is announced on the change stream; every replica's
snapshot and search index pick it up within about a second. Media upload and encoding
(``POST /v1/admin/content`` with a video file, processing status, ``POST /v1/admin/assets``)
belong to the media pipeline and are not served yet: they answer 404 like any unknown route.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

import msgspec

from api.catalog.models import GENRES, Artwork, Title, TitleType, Window
from api.catalog.responses import Availability, TitlePage
from api.catalog.store import announce_changes
from api.deps import Deps
from api.errors import InvalidRequest, NotFound
from api.http import Request, Response, Route, json_response
from api.maturity import MaturityRating
from api.storage import to_document
from api.wire import CountryCode, LanguageTag, RequestBody, decode, utc_now

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=5000)]
Person = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Year = Annotated[int, msgspec.Meta(ge=1888, le=2100)]
Seconds = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Genre = Annotated[str, msgspec.Meta(min_length=1, max_length=30)]


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


class UpdateContent(RequestBody, kw_only=True):
    """Seed A's vocabulary for metadata edits; omitted fields keep their value."""

    title: Name | None = None
    description: Text | None = None
    genre: Annotated[list[Genre], msgspec.Meta(min_length=1, max_length=5)] | None = None
    rating: MaturityRating | None = None
    release_year: Year | None = None
    cast: Annotated[list[Person], msgspec.Meta(max_length=50)] | None = None
    director: Person | None = None


def _check_genres(genres: list[str] | None, field: str) -> None:
    unknown = sorted(set(genres or []) - set(GENRES))
    if unknown:
        raise InvalidRequest(
            f"Unknown genre {unknown[0]}", details=f"{field}: unknown genre {unknown[0]}"
        )


def routes(deps: Deps) -> list[Route]:
    base = deps.settings.public_base_url

    async def load(title_id: str) -> Title:
        doc = await deps.db.titles.find_one({"_id": title_id})
        if doc is None:
            raise NotFound("Title not found")
        return msgspec.convert(doc, Title)

    async def create(req: Request) -> Response:
        body = decode(req.body, CreateTitle)
        _check_genres(body.genres, "genres")
        title_id = f"t_{secrets.token_hex(6)}"
        art = f"{base}/static/artwork/{title_id}"
        title = Title(
            id=title_id,
            type=body.type,
            name=body.name,
            synopsis=body.synopsis,
            genres=body.genres,
            maturity_rating=body.maturity_rating,
            cast=body.cast,
            director=body.director,
            release_year=body.release_year,
            languages=body.languages,
            artwork=Artwork(
                poster=f"{art}/poster.jpg",
                background=f"{art}/background.jpg",
                thumbnail=f"{art}/thumbnail.jpg",
            ),
            date_added=utc_now(),
            availability=[],
            published=False,  # a shell until published in some regions
            duration_s=body.duration_s,
            updated_at=utc_now(),
        )
        await deps.db.titles.insert_one(to_document(title))
        await announce_changes(deps.redis, [title_id])
        unpublished = Availability(country="", playable=False, reason="NOT_PUBLISHED")
        return json_response(TitlePage.of(title, unpublished), status=201)

    async def publish(req: Request) -> Response:
        body = decode(req.body, Publish)
        if body.starts_at and body.ends_at and body.ends_at <= body.starts_at:
            raise InvalidRequest(
                "The window ends before it starts", details="ends_at: before starts_at"
            )
        title = await load(req.path_params["title_id"])
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
        return json_response(
            {"ok": True, "title_id": title.id, "countries": [w.country for w in windows]}
        )

    async def update(req: Request) -> Response:
        body = decode(req.body, UpdateContent)
        _check_genres(body.genre, "genre")
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
        return json_response(
            TitlePage.of(updated, Availability(country="", playable=updated.published, reason=None))
        )

    async def delete(req: Request) -> Response:
        title = await load(req.path_params["content_id"])
        await deps.db.titles.delete_one({"_id": title.id})
        await deps.db.assets.delete_many({"title_id": title.id})
        await announce_changes(deps.redis, [title.id])
        return Response(status=204)

    return [
        Route("POST", "/v1/admin/titles", create, auth="admin", rate_class="content"),
        Route("POST", "/v1/admin/publish/{title_id}", publish, auth="admin", rate_class="content"),
        Route("PUT", "/v1/admin/content/{content_id}", update, auth="admin", rate_class="content"),
        Route(
            "DELETE", "/v1/admin/content/{content_id}", delete, auth="admin", rate_class="content"
        ),
    ]
