"""Clear Key licenses (``POST /v1/drm/licenses``) and seed A's manifest route.

A license holds exactly the keys of the session's asset, only while the session is active, and
only for the key ids the player asked for: the challenge is base64 of a W3C Clear Key license
request (``{"kids": [...], "type": "temporary"}``) and the license is base64 of the JWK set.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from typing import Annotated

import msgspec
from cachetools import LRUCache

from api.catalog.access import viewer_for
from api.deps import Deps
from api.downloads import service as download_service
from api.downloads import views as download_views
from api.errors import Forbidden, InvalidRequest, NotFound, ServiceUnavailable
from api.http import Request, Response, Route, json_response
from api.playback import service, signing
from api.wire import RequestBody, ResponseBody, decode
from media.pool import Pool

LICENSE_TTL_S = 3600
MANIFEST_TTL_S = 120


class LicenseRequest(RequestBody, kw_only=True):
    """A session's license (``session_id``), or a download's (its ``license_token`` alone)."""

    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    challenge: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    license_token: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class ClearKeyRequest(msgspec.Struct):
    kids: Annotated[list[str], msgspec.Meta(min_length=1, max_length=16)]
    type: str = "temporary"


class License(ResponseBody, kw_only=True):
    license: str
    expires_in_sec: int
    key_system: str


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _kid_bytes(kid: str) -> bytes:
    return base64.urlsafe_b64decode(kid + "=" * (-len(kid) % 4))


class MediaKeys:
    """Each asset's Clear Key: an uploaded asset's own (its ingest job holds it), else the demo
    pool clip the asset maps to. Both are read once from MongoDB and kept: a key never changes."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._pool: Pool | None = None
        self._own: LRUCache[str, tuple[str, str] | None] = LRUCache(maxsize=100_000)

    async def for_asset(self, asset_id: str) -> tuple[str, str]:
        """(key id, key), both 32 hex digits."""
        if asset_id not in self._own:
            doc = await self._deps.db.ingest_jobs.find_one(
                {"_id": asset_id, "status": "completed"}, projection={"key_id": 1, "key": 1}
            )
            self._own[asset_id] = (doc["key_id"], doc["key"]) if doc else None
        own = self._own[asset_id]
        if own is not None:
            return own
        clip = (await self.pool()).clip_for(asset_id)
        return clip.key_id, clip.key

    async def pool(self) -> Pool:
        if self._pool is None:
            doc = await self._deps.db.media_pool.find_one({"_id": "pool"}, projection={"_id": 0})
            if doc is None:
                raise ServiceUnavailable("No packaged media yet; run the media packaging")
            self._pool = msgspec.convert(doc, Pool)
        return self._pool


def routes(deps: Deps) -> list[Route]:
    keys = MediaKeys(deps)
    settings = deps.settings

    async def license_(req: Request) -> Response:
        body = decode(req.body, LicenseRequest)
        try:
            challenge = msgspec.json.decode(
                base64.b64decode(body.challenge, validate=True), type=ClearKeyRequest
            )
            requested = {_kid_bytes(kid) for kid in challenge.kids}
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise InvalidRequest(
                "The challenge is not a Clear Key license request",
                details='challenge: base64 of {"kids": [...]}',
            ) from None
        asset_id, kind, ttl_s = await licensed(req, body)
        key_id, key = await keys.for_asset(asset_id)
        own_kid = bytes.fromhex(key_id)
        if requested != {own_kid}:
            raise Forbidden(
                "Those key ids are not this session's content", details="challenge: kids"
            )
        jwks = {
            "keys": [{"kty": "oct", "kid": b64url(own_kid), "k": b64url(bytes.fromhex(key))}],
            "type": kind,
        }
        encoded = base64.b64encode(msgspec.json.encode(jwks)).decode()
        return json_response(
            License(license=encoded, expires_in_sec=ttl_s, key_system="org.w3.clearkey")
        )

    async def licensed(req: Request, body: LicenseRequest) -> tuple[str, str, int]:
        """(asset, license type, lifetime): an active session's, or a live download's."""
        if body.session_id is None:
            if body.license_token is None:
                raise InvalidRequest(
                    "Send session_id, or a download's license_token", details="session_id: missing"
                )
            download = await download_service.for_license(
                deps, caller=download_views.caller_of(deps, req), token=body.license_token
            )
            ttl_s = max(0, download.expires_ms // 1000 - int(time.time()))
            return download.asset_id, "persistent-license", ttl_s
        session = await service.session(deps, account_id=req.account_id, session_id=body.session_id)
        expected_token = signing.license_token(
            deps.media_key, session.session_id, session.account_id
        )
        if body.license_token is not None and not hmac.compare_digest(
            body.license_token, expected_token
        ):
            raise Forbidden(
                "The license token does not belong to this session", details="license_token"
            )
        return session.asset_id, "temporary", LICENSE_TTL_S

    async def manifest(req: Request) -> Response:
        """Seed A: the HLS manifest of an active session's asset, with its license URL and tracks."""
        session_id = req.query.get("session_id")
        if not session_id:
            raise InvalidRequest(
                "session_id is required (start a session first)", details="session_id: missing"
            )
        session = await service.session(deps, account_id=req.account_id, session_id=session_id)
        content_id = req.path_params["content_id"]
        if content_id not in (session.title_id, session.asset_id):
            raise NotFound("This session plays other content", details="content_id")
        await viewer_for(deps, req, session.profile_id)  # the profile is still the caller's
        expires = int(time.time()) + MANIFEST_TTL_S

        def url(file: str) -> str:
            return signing.asset_url(
                deps.media_key,
                settings.media_base_url,
                session.asset_id,
                file,
                session.session_id,
                expires,
            )

        return json_response(
            {
                "content_id": content_id,
                "asset_id": session.asset_id,
                "session_id": session.session_id,
                "manifest_url": url("master.m3u8"),
                "dash_manifest_url": url("manifest.mpd"),
                "drm_license_url": f"{settings.public_base_url}/v1/drm/licenses",
                "license_token": signing.license_token(
                    deps.media_key, session.session_id, session.account_id
                ),
                "key_system": "org.w3.clearkey",
                "expires_in_sec": MANIFEST_TTL_S,
                "subtitles": [{"language": "en-US", "url": url("subtitles_en.vtt")}],
                "audio_tracks": [{"language": "en-US", "codec": "aac", "url": url("audio.m3u8")}],
            }
        )

    return [
        Route("POST", "/v1/drm/licenses", license_, rate_class="streaming"),
        Route("GET", "/v1/streaming/{content_id}/manifest", manifest, rate_class="streaming"),
    ]
