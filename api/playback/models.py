"""Playback wire types: seed B's session request and response, progress, seed A's streaming."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from api.catalog.responses import Pagination
from api.wire import CountryCode, EpochMillis, RequestBody, ResponseBody

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Platform = Literal["tv", "web", "mobile", "tablet", "console"]
Millis = Annotated[int, msgspec.Meta(ge=0, le=100 * 3600 * 1000)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=100 * 3600)]


class Device(RequestBody, kw_only=True):
    device_id: Id
    platform: Platform
    drm: Annotated[str, msgspec.Meta(max_length=32)] = "clearkey"


class Network(RequestBody, kw_only=True):
    country: CountryCode | None = None


class CreateSession(RequestBody, kw_only=True):
    profile_id: Id
    title_id: Id
    asset_id: Id | None = None
    device: Device
    network: Network | None = None


class Manifest(ResponseBody, kw_only=True):
    type: str
    url: str
    expires_in_sec: int


class Drm(ResponseBody, kw_only=True):
    license_server_url: str
    license_token: str
    key_system: str


class Cdn(ResponseBody, kw_only=True):
    provider: str
    region: str


class SessionCreated(ResponseBody, kw_only=True):
    session_id: str
    manifest: Manifest
    drm: Drm
    cdn: Cdn
    title_id: str
    asset_id: str
    profile_id: str
    lease_ttl_sec: int
    heartbeat_interval_sec: int
    resume_position_ms: int


class ProgressUpdate(RequestBody, kw_only=True):
    """Seed B. ``ts_ms`` is the player's clock (defaults to arrival); ``session_id`` optional."""

    title_id: Id
    asset_id: Id
    position_ms: Millis
    state: Literal["playing", "paused", "finished"]
    ts_ms: EpochMillis | None = None
    session_id: Id | None = None


class StreamingStart(RequestBody, kw_only=True):
    """Seed A's start, with an optional device id (a device type alone names one device)."""

    profile_id: Id
    device_type: Platform
    quality: Literal["480p", "720p", "1080p", "2160p"] = "1080p"
    device_id: Id | None = None
    asset_id: Id | None = None


class StreamingProgress(RequestBody, kw_only=True):
    profile_id: Id
    position: Seconds
    duration: Seconds | None = None
    session_id: Id | None = None
    state: Literal["playing", "paused", "finished"] = "playing"
    timestamp_ms: EpochMillis | None = None


class StreamingStop(RequestBody, kw_only=True):
    session_id: Id
    profile_id: Id | None = None
    position: Seconds | None = None


class Ok(ResponseBody):
    ok: bool = True


class Subtitle(ResponseBody, kw_only=True):
    language: str
    url: str


class AudioTrack(ResponseBody, kw_only=True):
    language: str
    codec: str
    url: str


class StreamingManifest(ResponseBody, kw_only=True):
    """Seed A's ``GET /v1/streaming/{content_id}/manifest``. With a ``session_id`` the URLs are
    signed for that session and ``license_token`` licenses it; without one they are signed for
    the account and the asset, and ``license_token`` is null: a license needs a session
    (``POST /v1/streaming/{content_id}/start``)."""

    content_id: str
    asset_id: str
    session_id: str | None
    manifest_url: str
    dash_manifest_url: str
    drm_license_url: str
    license_token: str | None
    key_system: str
    expires_in_sec: int
    subtitles: list[Subtitle]
    audio_tracks: list[AudioTrack]


class ClearKeyJwk(ResponseBody, kw_only=True):
    kty: str  # "oct"
    kid: str  # base64url, no padding
    k: str


class ClearKeyLicense(ResponseBody, kw_only=True):
    """The W3C Clear Key license format (a JWK set), as the raw license form answers it."""

    keys: list[ClearKeyJwk]
    type: str  # "temporary" or "persistent-license"


class ProgressAccepted(ResponseBody, kw_only=True):
    """``accepted`` is false for a replayed or out-of-order update (progress never goes back)."""

    ok: bool = True
    accepted: bool


class StreamingStarted(ResponseBody, kw_only=True):
    """Seed A's ``POST /v1/streaming/{content_id}/start``."""

    session_id: str
    content_id: str
    asset_id: str
    profile_id: str
    quality: str
    manifest_url: str
    drm_license_url: str
    license_token: str
    resume_position: int  # seconds
    heartbeat_interval_sec: int


class EventAccepted(ResponseBody, kw_only=True):
    ok: bool = True
    event_id: str


class ViewingStats(ResponseBody, kw_only=True):
    """Seed A's viewing statistics of a profile; times in seconds."""

    profile_id: str
    total_watch_time_seconds: int
    titles_started: int
    titles_finished: int
    episodes_finished: int
    by_genre: dict[str, int]
    by_day: dict[str, int]  # ISO date → seconds


class HistoryItem(ResponseBody, kw_only=True):
    content_id: str
    title: str
    type: str
    asset_id: str
    position: int  # seconds, seed A style
    duration: int
    progress: float
    watched: bool
    last_watched_at: str
    thumbnail_url: str


class History(ResponseBody, kw_only=True):
    profile_id: str
    history: list[HistoryItem]
    pagination: Pagination
