"""Every image URL the API hands out resolves (public, cacheable, no token: an ``<img>`` sends
none).

- ``GET /static/artwork/{title_id}/{poster,background,thumbnail}.jpg``: an uploaded title's
  stills from its ingest job; any other title's drawn by :mod:`api.images.render` with its name
  on a frame of the demo clip it plays. A drawn image is made once: kept in the media store
  (keyed by the title's name, so a rename draws anew) and in a small in-process cache.
- ``GET /static/avatars/{profile_id}.png``: a profile's default avatar.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from dataclasses import dataclass

from cachetools import LRUCache, TTLCache

from api.catalog.models import Title
from api.deps import Deps
from api.errors import NotFound
from api.http import Media, Param, Request, Response, Route
from api.images import render
from media.ingest.publish import read_pointer
from media.pool import Pool, read_media_pool, still_key

# The file a URL names → what is drawn, and which still an upload's job produced for it.
ARTWORK_FILES: dict[str, tuple[render.ArtworkKind, str]] = {
    "poster.jpg": ("poster", "poster.jpg"),
    "background.jpg": ("background", "background.jpg"),
    "thumbnail.jpg": ("thumbnail", "background.jpg"),
}
CACHE_CONTROL = "public, max-age=86400"
# An uploaded title's stills can change when its media is re-ingested: look again after this.
UPLOADED_TTL_S = 300
_AVATAR = re.compile(r"^([A-Za-z0-9_-]{1,64})\.png$")


@dataclass(frozen=True, slots=True)
class Image:
    """An image's bytes and its ``ETag``, hashed once when it is cached, not per request."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Image:
        return cls(body, f'"{hashlib.sha256(body).hexdigest()[:20]}"')


def _image(req: Request, image: Image, content_type: str) -> Response:
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": image.etag}
    if req.headers.get("if-none-match") == image.etag:
        return Response(status=304, headers=headers, content_type=content_type)
    return Response(body=image.body, content_type=content_type, headers=headers)


class Artwork:
    """Finds or draws a title's images; every answer is cached (they are small and hot)."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._drawn: LRUCache[tuple[str, str, str], Image] = LRUCache(maxsize=1024)
        self._uploaded: TTLCache[tuple[str, str], Image | None] = TTLCache(
            maxsize=1024, ttl=UPLOADED_TTL_S
        )
        self._stills: dict[str, bytes | None] = {}
        self._pool: Pool | None = None

    async def image(self, title: Title, file: str) -> Image:
        kind, still = ARTWORK_FILES[file]
        asset_id = title.asset_id or next(
            (e.asset_id for s in title.seasons for e in s.episodes), None
        )
        if asset_id is not None:
            uploaded = await self._from_upload(asset_id, still)
            if uploaded is not None:
                return uploaded
        name_hash = hashlib.sha256(title.name.encode()).hexdigest()[:12]
        key = (title.id, name_hash, file)
        if key not in self._drawn:
            self._drawn[key] = Image.of(await self._draw(title, asset_id, kind, name_hash, file))
        return self._drawn[key]

    async def _from_upload(self, asset_id: str, file: str) -> Image | None:
        key = (asset_id, file)
        if key not in self._uploaded:
            store = self._deps.store
            pointer = await read_pointer(store, asset_id)
            image = None
            if pointer is not None:
                with contextlib.suppress(FileNotFoundError):
                    image = await store.get(pointer.prefix + file)
            self._uploaded[key] = None if image is None else Image.of(image)
        return self._uploaded[key]

    async def _draw(
        self,
        title: Title,
        asset_id: str | None,
        kind: render.ArtworkKind,
        name_hash: str,
        file: str,
    ) -> bytes:
        store = self._deps.store
        key = f"artwork/drawn/{title.id}/{name_hash}-{file}"
        try:
            return await store.get(key)
        except FileNotFoundError:
            pass
        frame = await self._still(asset_id) if asset_id is not None else None
        image = await asyncio.to_thread(render.artwork, kind, title.name, frame)
        await store.put(key, image)  # two replicas drawing at once write the same bytes
        return image

    async def _still(self, asset_id: str) -> bytes | None:
        """A frame of the demo clip the asset plays (None before the pool was packaged)."""
        if self._pool is None:
            self._pool = await read_media_pool(self._deps.db)
            if self._pool is None:
                return None
        key = still_key(self._pool.clip_for(asset_id))
        if key not in self._stills:
            try:
                self._stills[key] = await self._deps.store.get(key)
            except FileNotFoundError:
                self._stills[key] = None
        return self._stills[key]


def routes(deps: Deps) -> list[Route]:
    artwork = Artwork(deps)
    avatars: LRUCache[str, Image] = LRUCache(maxsize=4096)

    async def title_artwork(req: Request) -> Response:
        file = req.path_params["file"]
        snapshot = await deps.catalog.ready()
        title = snapshot.get(req.path_params["title_id"])
        if file not in ARTWORK_FILES or title is None:
            raise NotFound("No such artwork")
        return _image(req, await artwork.image(title, file), "image/jpeg")

    async def avatar(req: Request) -> Response:
        found = _AVATAR.fullmatch(req.path_params["file"])
        if found is None:
            raise NotFound("No such avatar")
        profile_id = found[1]
        if profile_id not in avatars:
            avatars[profile_id] = Image.of(await asyncio.to_thread(render.avatar, profile_id))
        return _image(req, avatars[profile_id], "image/png")

    return [
        Route(
            "GET",
            "/static/artwork/{title_id}/{file}",
            title_artwork,
            auth="none",
            summary="A title's poster.jpg, background.jpg or thumbnail.jpg",
            params=(Param("If-None-Match", where="header"),),
            responses={200: Media("image/jpeg"), 304: None},
            errors=(NotFound,),
        ),
        Route(
            "GET",
            "/static/avatars/{file}",
            avatar,
            auth="none",
            summary="A profile's default avatar, {profile_id}.png",
            params=(Param("If-None-Match", where="header"),),
            responses={200: Media("image/png"), 304: None},
            errors=(NotFound,),
        ),
    ]
