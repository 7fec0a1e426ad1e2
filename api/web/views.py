"""Serves the built web player (``web/dist/``) at ``/web/…``, the API reference at ``/docs``.

``make web`` (``npm ci`` + ``web/build.mjs``) writes ``web/dist/``: the page's own files flat
under it, the vendors' prebuilt files (Shaka Player, Redoc) under ``vendor/``. The router's
``{file}`` matches one path segment, so those are the only two levels there are; a name is
served only when it resolves to a regular file inside its directory.

Without a build (no npm on this machine) every route here answers 404 ``NOT_FOUND`` saying so;
the API itself does not need the player.

Caching: the pages and the page's modules are revalidated on every load (``no-cache`` with an
``ETag``: the names are not content-hashed), the vendors' files are kept for an hour.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cachetools import LRUCache

from api.deps import Deps
from api.errors import NotFound
from api.http import Media, Request, Response, Route

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
PAGE_CACHE = "no-cache"
# Redoc's footer shows a logo from the vendor's CDN: the page loads nothing from elsewhere.
DOCS_POLICY = {"Content-Security-Policy": "img-src 'self' data:"}
VENDOR_CACHE = "public, max-age=3600"


@dataclass(frozen=True, slots=True)
class _Cached:
    stamp: tuple[int, int]  # (mtime_ns, size): a rebuilt file is read again
    body: bytes
    etag: str


class WebFiles:
    """Files under one build directory, read once per version and kept in memory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: LRUCache[Path, _Cached] = LRUCache(maxsize=256)

    def built(self) -> bool:
        return (self.root / "index.html").is_file()

    def find(self, sub: str, name: str) -> Path:
        if not self.built():
            raise NotFound(
                "The web player is not built: web/dist is missing. Install Node.js with npm and "
                "run `make web` (make run does it when npm is present)",
                details="web/dist: not built",
            )
        base = (self.root / sub).resolve()
        path = (base / name).resolve()
        if (
            name.startswith(".")
            or Path(name).suffix not in CONTENT_TYPES
            or not path.is_relative_to(base)
            or path.parent != base
            or not path.is_file()
        ):
            raise NotFound("No such file in the web player", details=f"file: {name}")
        return path

    def read(self, path: Path) -> _Cached:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is None or cached.stamp != stamp:
            body = path.read_bytes()
            etag = '"' + hashlib.blake2s(body, digest_size=12).hexdigest() + '"'
            cached = self._cache[path] = _Cached(stamp, body, etag)
        return cached

    def response(
        self,
        req: Request,
        sub: str,
        name: str,
        cache_control: str,
        extra: dict[str, str] | None = None,
    ) -> Response:
        path = self.find(sub, name)
        found = self.read(path)
        headers = {
            "Cache-Control": cache_control,
            "ETag": found.etag,
            "X-Content-Type-Options": "nosniff",
            **(extra or {}),
        }
        content_type = CONTENT_TYPES[path.suffix]
        if found.etag in req.headers.get("if-none-match", ""):
            return Response(status=304, headers=headers, content_type=content_type)
        return Response(body=found.body, headers=headers, content_type=content_type)


def _redirect(location: str) -> Response:
    return Response(status=302, headers={"Location": location}, content_type="text/plain")


def routes(deps: Deps, root: Path | None = None) -> list[Route]:
    """``root``: the build directory (``WEB_DIST_DIR``, default ``web/dist`` of this checkout)."""
    files = WebFiles(root or Path(os.environ.get("WEB_DIST_DIR") or DEFAULT_DIST))

    async def home(req: Request) -> Response:
        return _redirect("/web/")

    async def index(req: Request) -> Response:
        if not req.path.endswith("/"):  # relative URLs in the page resolve under /web/
            return _redirect("/web/")
        return files.response(req, ".", "index.html", PAGE_CACHE)

    async def page_file(req: Request) -> Response:
        return files.response(req, ".", req.path_params["file"], PAGE_CACHE)

    async def vendor_file(req: Request) -> Response:
        return files.response(req, "vendor", req.path_params["file"], VENDOR_CACHE)

    async def docs(req: Request) -> Response:
        return files.response(req, ".", "docs.html", PAGE_CACHE, DOCS_POLICY)

    html = Media("text/html")
    web = ("web",)
    return [
        Route(
            "GET", "/", home, auth="none", summary="Redirects to the web player (/web/)",
            responses={302: None}, tags=web,
        ),
        Route(
            "GET", "/web", index, auth="none", summary="The web player's page",
            responses={200: html, 302: None, 304: None}, errors=(NotFound,), tags=web,
        ),
        Route(
            "GET", "/web/{file}", page_file, auth="none",
            summary="A file of the web player (its modules, styles)",
            responses={200: Media("*/*"), 304: None}, errors=(NotFound,), tags=web,
        ),
        Route(
            "GET", "/web/vendor/{file}", vendor_file, auth="none",
            summary="A vendor file of the web player (Shaka Player, Redoc)",
            responses={200: Media("text/javascript"), 304: None}, errors=(NotFound,), tags=web,
        ),
        Route(
            "GET", "/docs", docs, auth="none",
            summary="This API's reference, rendered from /v1/openapi.json by Redoc",
            responses={200: html, 304: None}, errors=(NotFound,), tags=web,
        ),
    ]  # fmt: skip
