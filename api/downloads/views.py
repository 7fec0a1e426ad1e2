"""Download routes (seed B §5): grant, list, revoke, renew. The license is ``/v1/drm/licenses``."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from api import params
from api.catalog.access import viewer_country, viewer_for
from api.deps import Deps
from api.downloads import rules, service
from api.downloads.models import (
    CreateDownload,
    DownloadGrant,
    DownloadItem,
    DownloadList,
    OfflineDrm,
    Record,
)
from api.errors import (
    ContentWithdrawn,
    DeviceDownloadLimitReached,
    DownloadExpired,
    DownloadLimitReached,
    DownloadNotFound,
    DownloadRevoked,
    InvalidRequest,
    MaturityRestricted,
    NotAvailableInRegion,
    NotFound,
    RenewalLimitReached,
)
from api.http import Request, Response, Route, json_response
from api.wire import decode, iso
from core import signing

ROUTE = "/v1/downloads"


def _iso_ms(ms: int) -> str:
    return iso(datetime.fromtimestamp(ms / 1000, UTC))


_COUNTED = {
    ("POST", ROUTE): "grant",
    ("POST", ROUTE + "/{download_id}/renew"): "renew",
    ("DELETE", ROUTE + "/{download_id}"): "revoke",
}


def metric_event(route: str, method: str, status: int, code: str) -> tuple[str, str] | None:
    """(event, outcome) of a download request for the metrics: ``("grant", "ok")``,
    ``("grant", "DOWNLOAD_LIMIT_REACHED")``, …; None for any other request."""
    event = _COUNTED.get((method, route))
    if event is None:
        return None
    return event, "ok" if status < 400 else code or str(status)


def caller_of(deps: Deps, req: Request) -> service.Caller:
    assert req.principal is not None
    return service.Caller(
        account_id=req.principal.account_id,
        plan=req.principal.plan,
        country=viewer_country(deps, req),
        profiles_version=req.profiles_version,
    )


def routes(deps: Deps) -> list[Route]:
    settings = deps.settings

    def item(record: Record) -> DownloadItem:
        state = rules.state_of(record.state, record.expires_ms, service.now_ms())
        return DownloadItem(
            download_id=record.id,
            profile_id=record.profile_id,
            title_id=record.title_id,
            title=record.title,
            asset_id=record.asset_id,
            device_id=record.device_id,
            quality=record.quality,
            state=state,
            expired_reason=(record.expired_reason or "license") if state == "expired" else None,
            created_at=iso(record.created_at),
            expires_at=_iso_ms(record.expires_ms),
            expires_at_ms=record.expires_ms,
            renewals_left=service.renewals_left(deps, record),
        )

    def granted(record: Record) -> DownloadGrant:
        """The item plus what plays it offline: a manifest signed until the license runs out."""
        expires_s = record.expires_ms // 1000
        return DownloadGrant(
            **msgspec.structs.asdict(item(record)),
            manifest_url=signing.asset_url(
                deps.media_key,
                settings.media_base_url,
                record.asset_id,
                f"offline-{record.quality}.mpd",
                record.id,
                expires_s,
            ),
            drm=OfflineDrm(
                license_token=service.license_token(deps, record),
                expires_in_sec=max(0, expires_s - int(service.now_ms() / 1000)),
                license_server_url=f"{settings.public_base_url}/v1/drm/licenses",
                key_system="org.w3.clearkey",
            ),
        )

    async def create(req: Request) -> Response:
        body = decode(req.body, CreateDownload)
        _, profile = await viewer_for(deps, req, body.profile_id)
        assert profile is not None
        record = await service.grant(
            deps,
            caller=caller_of(deps, req),
            profile=profile,
            asset_id=body.asset_id,
            device_id=body.device_id,
            quality=body.quality,
        )
        return json_response(granted(record), status=201)

    async def list_(req: Request) -> Response:
        profile_id = params.text(req, "profile_id", max_length=64)
        if profile_id is None:
            raise InvalidRequest("profile_id is required", details="profile_id: missing")
        _, profile = await viewer_for(deps, req, profile_id)
        assert profile is not None
        records = await service.listing(deps, caller=caller_of(deps, req), profile=profile)
        return json_response(
            DownloadList(profile_id=profile.id, downloads=[item(r) for r in records])
        )

    async def revoke(req: Request) -> Response:
        caller = caller_of(deps, req)
        await service.revoke(deps, caller=caller, download_id=req.path_params["download_id"])
        return Response(status=204)

    async def renew(req: Request) -> Response:
        caller = caller_of(deps, req)
        record = await service.renew(
            deps, caller=caller, download_id=req.path_params["download_id"]
        )
        return json_response(granted(record))

    return [
        Route(
            "POST",
            ROUTE,
            create,
            rate_class="streaming",
            summary="Download an asset for offline play (seed B), within the plan's limits",
            body=CreateDownload,
            responses={201: DownloadGrant},
            errors=(
                NotFound,
                NotAvailableInRegion,
                MaturityRestricted,
                DownloadLimitReached,
                DeviceDownloadLimitReached,
            ),
        ),
        Route(
            "GET",
            ROUTE,
            list_,
            rate_class="streaming",
            summary="A profile's downloads with their state and expiry",
            params=(params.text_param("profile_id", max_length=64, required=True),),
            responses={200: DownloadList},
            errors=(NotFound,),
        ),
        Route(
            "DELETE",
            ROUTE + "/{download_id}",
            revoke,
            rate_class="streaming",
            summary="Revoke a download (frees its slot; later licenses are refused)",
            responses={204: None},
            errors=(DownloadNotFound,),
        ),
        Route(
            "POST",
            ROUTE + "/{download_id}/renew",
            renew,
            rate_class="streaming",
            summary="Extend a download's license",
            responses={200: DownloadGrant},
            errors=(
                DownloadNotFound,
                DownloadRevoked,
                DownloadExpired,
                ContentWithdrawn,
                RenewalLimitReached,
            ),
        ),
    ]
