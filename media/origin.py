"""The media origin: serves packaged media to players, only on a valid signed URL.

An uploaded asset is served from the media store through its pointer object
(``assets/{id}/current.json``, written last by the ingest pipeline), so a player sees all of
a version or none of it; any other asset id maps to a clip of the packaged demo pool.

``offline-{high,low}.mpd`` is the DASH manifest reduced to one video rendition, served only
under a download's signature (its ``sid`` is the download id, its expiry the license's).

``GET /media/<asset>/<file>?exp=&sid=&sig=``: the signature (HMAC over ``/media/<asset>/``,
expiry and session) must verify and not be expired, else 403. Manifests (DASH and HLS) are
rewritten on the way out so every URL inside carries a query signed for the same session that
lives ``PLAYBACK_URL_TTL_S`` (a download's: its license expiry, when later); segments are files.
Run: ``python -m media.origin --port 8001 --pool DIR`` (the key comes from the settings).
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from aiohttp import web
from cachetools import TTLCache

from core import signing
from core.config import Settings
from media.ingest.publish import read_pointer
from media.pool import Pool, load
from media.store import MediaStore

CONTENT_TYPES = {
    ".mpd": "application/dash+xml",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
}
# Players run on pages of another origin (the web player is served by the API): any origin
# may read media, the signature is what guards it. Preflights are answered for the headers
# a player may add (Range).
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range",
    "Access-Control-Max-Age": "86400",
}
_MPD_URL = re.compile(r'\b(initialization|media)="([^"]+)"')
_HLS_URI = re.compile(r'URI="(?!data:)([^"]+)"')


def _error(status: int, code: str, message: str) -> web.Response:
    body = {
        "error": {"code": code, "message": message, "details": message},
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "request_id": "",
    }
    return web.Response(
        status=status,
        body=msgspec.json.encode(body),
        content_type="application/json",
        headers=CORS,  # a player on the API's origin may read why it was refused
    )


def rewrite_mpd(text: str, query: str) -> str:
    escaped = query.replace("&", "&amp;")
    return _MPD_URL.sub(lambda m: f'{m[1]}="{m[2]}?{escaped}"', text)


def rewrite_m3u8(text: str, query: str) -> str:
    lines = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            line = f"{line}?{query}"
        else:
            line = _HLS_URI.sub(lambda m: f'URI="{m[1]}?{query}"', line)
        lines.append(line)
    return "\n".join(lines) + "\n"


_REPRESENTATION = re.compile(
    r"[ \t]*<Representation\b[^>]*>.*?</Representation>[ \t]*\n?", re.DOTALL
)
_OFFLINE = re.compile(r"offline-(?P<quality>high|low)\.mpd")


def offline_mpd(text: str, quality: str) -> str:
    """The DASH manifest with one video rendition (the tallest, or the shortest for ``low``):
    a download fetches one rendition, not the ladder. Audio and text are kept."""
    videos = [m for m in _REPRESENTATION.finditer(text) if 'mimeType="video/' in m[0]]
    if len(videos) < 2:
        return text

    def height(match: re.Match[str]) -> int:
        found = re.search(r'\bheight="(\d+)"', match[0])
        return int(found[1]) if found else 0

    keep = (max if quality == "high" else min)(videos, key=height)
    dropped = {m.span() for m in videos if m is not keep}
    return _REPRESENTATION.sub(lambda m: "" if m.span() in dropped else m[0], text)


# How long the segment and playlist URLs inside a served manifest stay valid.
PLAYBACK_URL_TTL_S = 6 * 3600

# A published asset's pointer changes only when it is re-encoded: a few seconds of caching
# saves a store read per segment request.
POINTER_CACHE_S = 5


def make_app(pool_root: Path, key: bytes, store: MediaStore) -> web.Application:
    pool: Pool | None = load(pool_root)
    if pool is None:
        raise FileNotFoundError(f"no packaged pool at {pool_root}; run python -m media.package")
    prefixes: TTLCache[str, str | None] = TTLCache(maxsize=10_000, ttl=POINTER_CACHE_S)

    async def uploaded_prefix(asset_id: str) -> str | None:
        if asset_id not in prefixes:
            pointer = await read_pointer(store, asset_id)
            prefixes[asset_id] = pointer.prefix if pointer is not None else None
        return prefixes[asset_id]

    def _pool_file(asset_id: str, file: str) -> Path | None:
        assert pool is not None
        clip_dir = (pool_root / pool.clip_for(asset_id).directory).resolve()
        path = (clip_dir / file).resolve()
        return path if path.is_relative_to(clip_dir) and path.is_file() else None

    async def read_text(asset_id: str, file: str) -> str | None:
        """A manifest, found exactly as a segment is (same containment checks)."""
        found = await media_file(asset_id, file)
        if found is None:
            return None
        return found.read_text() if isinstance(found, Path) else found.decode()

    async def media_file(asset_id: str, file: str) -> Path | bytes | None:
        prefix = await uploaded_prefix(asset_id)
        if prefix is None:
            return _pool_file(asset_id, file)
        if ".." in file.split("/"):
            return None
        local = store.local_path(prefix + file)
        if local is not None:
            return local if local.is_file() else None
        try:
            return await store.get(prefix + file)
        except FileNotFoundError:
            return None

    async def serve(request: web.Request) -> web.StreamResponse:
        asset_id, file = request.match_info["asset_id"], request.match_info["file"]
        try:
            expires = int(request.query["exp"])
            session_id, sig = request.query["sid"], request.query["sig"]
        except (KeyError, ValueError):
            return _error(403, "FORBIDDEN", "A signed URL is required")
        prefix = signing.asset_prefix(asset_id)
        if not signing.verify(key, prefix, expires, session_id, sig, int(time.time())):
            return _error(403, "FORBIDDEN", "The signature is invalid or expired")
        suffix = Path(file).suffix
        content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
        headers = {**CORS, "Cache-Control": "private, max-age=60"}
        # The URLs inside a manifest are signed anew to live PLAYBACK_URL_TTL_S: the manifest
        # URL's short expiry bounds when playback may *start*, not how long it may run (a film
        # outlives 120 s). The keys stay behind the license, which needs a live session.
        inner_exp = max(expires, int(time.time()) + PLAYBACK_URL_TTL_S)
        query = signing.signed_query(key, prefix, inner_exp, session_id)
        offline = _OFFLINE.fullmatch(file)
        if offline is not None and not signing.is_download(session_id):
            return _error(403, "FORBIDDEN", "Offline manifests are signed for downloads only")
        if suffix in (".mpd", ".m3u8"):
            text = await read_text(asset_id, "manifest.mpd" if offline else file)
            if text is None:
                return _error(404, "NOT_FOUND", "No such media file")
            if offline is not None:
                text = offline_mpd(text, offline["quality"])
            body = rewrite_mpd(text, query) if suffix == ".mpd" else rewrite_m3u8(text, query)
            return web.Response(text=body, content_type=content_type, headers=headers)
        found = await media_file(asset_id, file)
        if found is None:
            return _error(404, "NOT_FOUND", "No such media file")
        if isinstance(found, Path):
            return web.FileResponse(found, headers={**headers, "Content-Type": content_type})
        return web.Response(body=found, headers={**headers, "Content-Type": content_type})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "clips": len(pool.clips)})

    async def preflight(request: web.Request) -> web.Response:
        return web.Response(status=204, headers=PREFLIGHT)

    app = web.Application()
    app.router.add_get("/media/{asset_id}/{file:.+}", serve)
    app.router.add_route("OPTIONS", "/media/{asset_id}/{file:.+}", preflight)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--pool", type=Path, required=True)
    args = parser.parse_args()
    settings = Settings.from_env()
    store = MediaStore.from_url(settings.ingest.store_url)
    app = make_app(args.pool, signing.load_key(settings.media_key_file), store)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
