"""Download wire types (seed B §5 plus what a client needs) and the stored record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from api.downloads.rules import State
from api.wire import RequestBody, ResponseBody

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# Which video rendition the offline manifest keeps: the best, or the smallest for little storage.
Quality = Literal["high", "low"]
ExpiredReason = Literal["license", "region", "catalog"]


class CreateDownload(RequestBody, kw_only=True):
    profile_id: Id
    asset_id: Id
    device_id: Id
    quality: Quality = "high"


class Record(msgspec.Struct, kw_only=True):
    """One download as MongoDB keeps it (collection ``downloads``)."""

    id: str = msgspec.field(name="_id")
    account_id: str
    profile_id: str
    title_id: str
    title: str  # the name when granted: the list still names a title that left the catalog
    asset_id: str
    device_id: str
    quality: Quality
    state: State = "active"
    expired_reason: ExpiredReason | None = None
    created_at: datetime
    expires_ms: int
    renewals: int = 0


class DownloadItem(ResponseBody, kw_only=True):
    download_id: str
    profile_id: str
    title_id: str
    title: str
    asset_id: str
    device_id: str
    quality: Quality
    state: State
    expired_reason: ExpiredReason | None
    created_at: str
    expires_at: str  # ISO UTC (seed A style)
    expires_at_ms: int  # the same instant (seed B style)
    renewals_left: int


class OfflineDrm(ResponseBody, kw_only=True):
    license_token: str
    expires_in_sec: int
    license_server_url: str
    key_system: str


class DownloadGrant(DownloadItem, kw_only=True):
    """Seed B's body (``download_id``, ``manifest_url``, ``drm``) and the item's fields."""

    manifest_url: str
    drm: OfflineDrm


class DownloadList(ResponseBody, kw_only=True):
    profile_id: str
    downloads: list[DownloadItem]
