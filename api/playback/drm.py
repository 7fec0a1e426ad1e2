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

from api import params
from api.catalog.access import viewer_country, viewer_for
from api.deps import Deps
from api.downloads import service as download_service
from api.downloads import views as download_views
from api.errors import (
    ContentWithdrawn,
    DownloadExpired,
    DownloadNotFound,
    DownloadRevoked,
    Forbidden,
    InvalidRequest,
    MaturityRestricted,
    NotAvailableInRegion,
    NotFound,
    ServiceUnavailable,
    SessionNotFound,
)
from api.http import Param, Request, Response, Route, json_response
from api.playback import service
from api.playback.models import AudioTrack, ClearKeyLicense, StreamingManifest, Subtitle
from api.wire import RequestBody, ResponseBody, decode
from core import signing
from media.pool import Pool, read_media_pool

LICENSE_TTL_S = 3600
# The raw license form (a browser's Clear Key request as the body) carries the session's
# ``license_token`` in this header; its presence selects that form.
LICENSE_TOKEN_HEADER = "x-license-token"
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


def _requested_kids(request: bytes, field: str) -> set[bytes]:
    """The key ids a W3C Clear Key license request (``{"kids": [...]}``) asks for."""
    try:
        parsed = msgspec.json.decode(request, type=ClearKeyRequest)
        return {_kid_bytes(kid) for kid in parsed.kids}
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidRequest(
            "The challenge is not a Clear Key license request",
            details=f'{field}: {"" if field == "body" else "base64 of "}{{"kids": [...]}}',
        ) from None


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
            self._pool = await read_media_pool(self._deps.db)
            if self._pool is None:
                raise ServiceUnavailable("No packaged media yet; run the media packaging")
        return self._pool


def routes(deps: Deps) -> list[Route]:
    keys = MediaKeys(deps)
    settings = deps.settings

    async def license_(req: Request) -> Response:
        """Two forms, one path. Wrapped (seed B): ``{session_id, challenge, license_token?}`` →
        ``{license: base64(JWK set), …}``. Raw (what a browser's Clear Key CDM sends): the body
        is the license request itself, the session's ``license_token`` comes in the
        ``X-License-Token`` header and ``session_id`` in the query (a download's token names its
        download, so it needs none) → the JWK set itself."""
        raw_token = req.headers.get(LICENSE_TOKEN_HEADER)
        if raw_token is None:
            body = decode(req.body, LicenseRequest)
            session_id, token = body.session_id, body.license_token
            try:
                request = base64.b64decode(body.challenge, validate=True)
            except (binascii.Error, ValueError):
                request = b""
            requested = _requested_kids(request, "challenge")
        else:
            session_id, token = params.text(req, "session_id", max_length=64), raw_token.strip()
            if not token or len(token) > 128:
                raise InvalidRequest(
                    "The license token header is empty or too long",
                    details=f"{LICENSE_TOKEN_HEADER}: 1 to 128 characters",
                )
            requested = _requested_kids(req.body, "body")
        asset_id, kind, ttl_s = await licensed(req, session_id, token)
        key_id, key = await keys.for_asset(asset_id)
        own_kid = bytes.fromhex(key_id)
        if requested != {own_kid}:
            field = "challenge" if raw_token is None else "body"
            raise Forbidden(
                "Those key ids are not this session's content", details=f"{field}: kids"
            )
        jwks = {
            "keys": [{"kty": "oct", "kid": b64url(own_kid), "k": b64url(bytes.fromhex(key))}],
            "type": kind,
        }
        if raw_token is not None:  # the W3C Clear Key license format, as the CDM takes it
            return Response(body=msgspec.json.encode(jwks), headers={"Cache-Control": "no-store"})
        encoded = base64.b64encode(msgspec.json.encode(jwks)).decode()
        return json_response(
            License(license=encoded, expires_in_sec=ttl_s, key_system="org.w3.clearkey")
        )

    async def licensed(
        req: Request, session_id: str | None, license_token: str | None
    ) -> tuple[str, str, int]:
        """(asset, license type, lifetime): an active session's, or a live download's."""
        if session_id is None:
            if license_token is None:
                raise InvalidRequest(
                    "Send session_id, or a download's license_token", details="session_id: missing"
                )
            download = await download_service.for_license(
                deps, caller=download_views.caller_of(deps, req), token=license_token
            )
            ttl_s = max(0, download.expires_ms // 1000 - int(time.time()))
            return download.asset_id, "persistent-license", ttl_s
        session = await service.session(deps, account_id=req.account_id, session_id=session_id)
        expected_token = signing.license_token(
            deps.media_key, session.session_id, session.account_id
        )
        if license_token is not None and not hmac.compare_digest(license_token, expected_token):
            raise Forbidden(
                "The license token does not belong to this session", details="license_token"
            )
        return session.asset_id, "temporary", LICENSE_TTL_S

    async def manifest(req: Request) -> Response:
        """Seed A: an asset's manifests, license URL and tracks. With ``session_id`` signed for
        that active session; without one (seed A shows no parameters) for the account and the
        asset, after the session checks but concurrency — a license still needs a session."""
        content_id = req.path_params["content_id"]
        session_id = params.text(req, "session_id", max_length=64)
        license_token: str | None = None
        if session_id is not None:
            session = await service.session(deps, account_id=req.account_id, session_id=session_id)
            if content_id not in (session.title_id, session.asset_id):
                raise NotFound("This session plays other content", details="content_id")
            await viewer_for(deps, req, session.profile_id)  # the profile is still the caller's
            asset_id, subject = session.asset_id, session.session_id
            license_token = signing.license_token(deps.media_key, session_id, session.account_id)
        else:
            _, profile = await viewer_for(deps, req)  # an optional profile_id refines it
            snapshot = await deps.catalog.ready()
            title = service.playable_title(snapshot, content_id, profile, viewer_country(deps, req))
            asset_id = await service.asset_to_play(deps, snapshot, title, content_id, profile)
            subject = signing.account_subject(req.account_id)
        expires = int(time.time()) + MANIFEST_TTL_S

        def url(file: str) -> str:
            return signing.asset_url(
                deps.media_key, settings.media_base_url, asset_id, file, subject, expires
            )

        return json_response(
            StreamingManifest(
                content_id=content_id,
                asset_id=asset_id,
                session_id=session_id,
                manifest_url=url("master.m3u8"),
                dash_manifest_url=url("manifest.mpd"),
                drm_license_url=f"{settings.public_base_url}/v1/drm/licenses",
                license_token=license_token,
                key_system="org.w3.clearkey",
                expires_in_sec=MANIFEST_TTL_S,
                subtitles=[Subtitle(language="en-US", url=url("subtitles_en.vtt"))],
                audio_tracks=[AudioTrack(language="en-US", codec="aac", url=url("audio.m3u8"))],
            )
        )

    return [
        Route(
            "POST",
            "/v1/drm/licenses",
            license_,
            priority="critical",
            rate_class="streaming",
            summary="A Clear Key license for an active session or a live download",
            # Wrapped (seed B) → License; raw (X-License-Token set, the CDM's request as the
            # body, session_id in the query) → the JWK set itself.
            body=(LicenseRequest, ClearKeyRequest),
            params=(
                Param("X-License-Token", where="header", description="selects the raw form"),
                params.text_param("session_id", max_length=64),
            ),
            responses={200: (License, ClearKeyLicense)},
            errors=(
                InvalidRequest,
                Forbidden,
                SessionNotFound,
                DownloadNotFound,
                DownloadRevoked,
                DownloadExpired,
                ContentWithdrawn,
            ),
        ),
        Route(
            "GET",
            "/v1/streaming/{content_id}/manifest",
            manifest,
            priority="critical",
            rate_class="streaming",
            summary="An asset's manifests, license URL and tracks (seed A)",
            params=(
                params.text_param("session_id", max_length=64),
                params.PROFILE_ID,
            ),
            responses={200: StreamingManifest},
            errors=(SessionNotFound, NotFound, NotAvailableInRegion, MaturityRestricted),
        ),
    ]
