"""Offline downloads: grant, list, renew, revoke, and the checks behind an offline license.

Checks run in the playback order (profile ownership, done by the caller → asset exists and is
published → available in the viewer's country → the profile's maturity) and then the plan's
limits. The limits are decided on one MongoDB document per account, the *ledger*
(``download_ledgers``: which download each device holds, until when, and a revision). A grant
reads the ledger, decides with :func:`api.downloads.rules.admit`, and writes the new ledger
with a conditional update on the revision it read; a concurrent writer makes that update match
nothing and the grant decides again on the fresh ledger. So two devices racing for the last
slot cannot both win, on any number of replicas, and no lock is ever held.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

import msgspec
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from api.catalog.models import Title
from api.catalog.snapshot import CatalogSnapshot
from api.deps import Deps
from api.downloads import rules
from api.downloads.models import ExpiredReason, Quality, Record
from api.errors import (
    ContentWithdrawn,
    DeviceDownloadLimitReached,
    DownloadExpired,
    DownloadLimitReached,
    DownloadNotFound,
    DownloadRevoked,
    NotAvailableInRegion,
    NotFound,
    RenewalLimitReached,
    ServiceUnavailable,
)
from api.playback.service import playable_title
from api.profiles.models import Profile
from api.wire import utc_now
from core import signing
from core.storage import Document, to_document

# Rounds of read-decide-write before a grant gives up (503, safe to retry). Each round at least
# one writer wins, so ten devices racing need at most ten.
LEDGER_ATTEMPTS = 32
LIST_LIMIT = 1000  # newest first; above what a plan may hold active (6 devices x 100)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: the account, its plan, the country the service decided, the profiles version."""

    account_id: str
    plan: str
    country: str
    profiles_version: int | None


def now_ms() -> int:
    return int(time.time() * 1000)


def license_token(deps: Deps, record: Record) -> str:
    return signing.download_license_token(deps.media_key, record.id, record.account_id)


def renewals_left(deps: Deps, record: Record) -> int:
    return max(0, deps.settings.downloads.renewals - record.renewals)


async def grant(
    deps: Deps,
    *,
    caller: Caller,
    profile: Profile,
    asset_id: str,
    device_id: str,
    quality: Quality,
) -> Record:
    snapshot = await deps.catalog.ready()
    owner = snapshot.asset_owner.get(asset_id)
    if owner is None:
        raise NotFound("No such asset", details="asset_id")
    title = playable_title(snapshot, snapshot.titles[owner].id, profile, caller.country)
    settings = deps.settings.downloads
    now = now_ms()
    record = Record(
        id=f"{signing.DOWNLOAD_PREFIX}{secrets.token_hex(10)}",
        account_id=caller.account_id,
        profile_id=profile.id,
        title_id=title.id,
        title=title.name,
        asset_id=asset_id,
        device_id=device_id,
        quality=quality,
        created_at=utc_now(),
        expires_ms=now + settings.license_ttl_s * 1000,
    )
    await _hold(deps, caller, record, now)
    try:
        await deps.db.downloads.insert_one(to_document(record))
    except BaseException:
        await _release(deps, record)  # no slot held by a download that does not exist
        raise
    return record


async def _hold(deps: Deps, caller: Caller, record: Record, now: int) -> None:
    limits = deps.settings.downloads
    ledgers = deps.db.download_ledgers
    for _ in range(LEDGER_ATTEMPTS):
        ledger = await ledgers.find_one({"_id": caller.account_id}) or {"rev": 0, "held": {}}
        held = {k: rules.Hold(v["device"], v["until_ms"]) for k, v in ledger["held"].items()}
        decision = rules.admit(
            held,
            download_id=record.id,
            device_id=record.device_id,
            now_ms=now,
            until_ms=record.expires_ms,
            max_devices=limits.devices.get(caller.plan, 1),
            per_device=limits.per_device,
        )
        if isinstance(decision, rules.Refused):
            _refuse(decision, caller.plan, limits.devices.get(caller.plan, 1), limits.per_device)
        assert isinstance(decision, rules.Admitted)
        rev = ledger["rev"]
        written: Document = {
            k: {"device": h.device_id, "until_ms": h.until_ms} for k, h in decision.held.items()
        }
        try:
            result = await ledgers.update_one(
                {"_id": caller.account_id, "rev": rev},
                {"$set": {"held": written, "rev": rev + 1}},
                upsert=rev == 0,  # the first grant creates the ledger; a racing one collides
            )
        except DuplicateKeyError:
            continue
        if result.matched_count or result.upserted_id is not None:
            return
    raise ServiceUnavailable("Downloads of this account are busy; retry shortly")


def _refuse(refused: rules.Refused, plan: str, max_devices: int, per_device: int) -> None:
    if refused.reason == "devices":
        raise DownloadLimitReached(
            f"Your {plan} plan allows downloads on {max_devices} device(s)",
            details=[{"device_id": d} for d in refused.devices],
        )
    raise DeviceDownloadLimitReached(
        f"A device holds at most {per_device} active downloads", details="device_id"
    )


async def _release(deps: Deps, record: Record) -> None:
    """Free the download's slot. Bumping the revision makes a grant that read the ledger before
    this write decide again, so it can neither resurrect the hold nor miss the freed slot."""
    await deps.db.download_ledgers.update_one(
        {"_id": record.account_id}, {"$unset": {f"held.{record.id}": ""}, "$inc": {"rev": 1}}
    )


async def _load(deps: Deps, caller: Caller, download_id: str) -> Record:
    """The caller's own download, or 404 (another account's id is not found either)."""
    doc = await deps.db.downloads.find_one({"_id": download_id, "account_id": caller.account_id})
    if doc is None:
        raise DownloadNotFound()
    return msgspec.convert(doc, Record)


def withdrawal(snapshot: CatalogSnapshot, record: Record, country: str) -> ExpiredReason | None:
    """Why a download's title may no longer be kept here (left the catalog or the region)."""
    pos = snapshot.by_id.get(record.title_id)
    if pos is None or not snapshot.published[pos]:
        return "catalog"
    return None if snapshot.available_in(pos, country) else "region"


async def _expire(deps: Deps, record: Record, reason: ExpiredReason) -> None:
    await deps.db.downloads.update_one(
        {"_id": record.id, "state": "active"},
        {"$set": {"state": "expired", "expired_reason": reason}},
    )
    await _release(deps, record)


async def _usable(deps: Deps, caller: Caller, record: Record, now: int) -> Title:
    """Still active, and the title still playable for its profile here; else the refusal."""
    state = rules.state_of(record.state, record.expires_ms, now)
    if state == "revoked":
        raise DownloadRevoked()
    if state == "expired":
        raise DownloadExpired(details=f"expired_reason: {record.expired_reason or 'license'}")
    snapshot = await deps.catalog.ready()
    profile = await deps.profiles.get(
        account_id=caller.account_id,
        profile_id=record.profile_id,
        version=caller.profiles_version,
    )
    try:
        return playable_title(snapshot, record.title_id, profile, caller.country)
    except NotFound:
        await _expire(deps, record, "catalog")
        raise ContentWithdrawn() from None
    except NotAvailableInRegion:
        await _expire(deps, record, "region")
        raise


async def for_license(deps: Deps, *, caller: Caller, token: str) -> Record:
    """The download a license token names, if it is the caller's and may still be played."""
    download_id = signing.download_of(token)
    if download_id is None:
        raise DownloadNotFound("No download has this license token", details="license_token")
    record = await _load(deps, caller, download_id)
    if not hmac.compare_digest(token, license_token(deps, record)):
        raise DownloadNotFound("No download has this license token", details="license_token")
    await _usable(deps, caller, record, now_ms())
    return record


async def renew(deps: Deps, *, caller: Caller, download_id: str) -> Record:
    """A fresh license lifetime from now, while renewals are left."""
    record = await _load(deps, caller, download_id)
    now = now_ms()
    await _usable(deps, caller, record, now)
    limit = deps.settings.downloads.renewals
    if record.renewals >= limit:
        raise RenewalLimitReached(f"A download may be renewed {limit} time(s)")
    until = now + deps.settings.downloads.license_ttl_s * 1000
    extended = await deps.db.download_ledgers.update_one(
        {"_id": caller.account_id, f"held.{record.id}.until_ms": {"$gt": now}},
        {"$set": {f"held.{record.id}.until_ms": until}, "$inc": {"rev": 1}},
    )
    if not extended.matched_count:  # it ran out (or was revoked) a moment ago
        raise DownloadExpired(details="expired_reason: license")
    doc = await deps.db.downloads.find_one_and_update(
        {"_id": record.id, "state": "active", "renewals": {"$lt": limit}},
        {"$set": {"expires_ms": until}, "$inc": {"renewals": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:  # a concurrent renewal took the last one
        raise RenewalLimitReached(f"A download may be renewed {limit} time(s)")
    return msgspec.convert(doc, Record)


async def revoke(deps: Deps, *, caller: Caller, download_id: str) -> None:
    """Revoked at once: the slot is free and later licenses are refused. Idempotent."""
    record = await _load(deps, caller, download_id)
    await deps.db.downloads.update_one(
        {"_id": record.id}, {"$set": {"state": "revoked", "expired_reason": None}}
    )
    await _release(deps, record)


async def listing(deps: Deps, *, caller: Caller, profile: Profile) -> list[Record]:
    """The profile's downloads, newest first; a title gone from here expires its downloads."""
    snapshot = await deps.catalog.ready()
    cursor = (
        deps.db.downloads.find({"account_id": caller.account_id, "profile_id": profile.id})
        .sort("created_at", DESCENDING)
        .limit(LIST_LIMIT)
    )
    records = [msgspec.convert(doc, Record) async for doc in cursor]
    now = now_ms()
    for i, record in enumerate(records):
        if rules.state_of(record.state, record.expires_ms, now) != "active":
            continue
        reason = withdrawal(snapshot, record, caller.country)
        if reason is not None:
            await _expire(deps, record, reason)
            records[i] = msgspec.structs.replace(record, state="expired", expired_reason=reason)
    return records


async def active_count(deps: Deps) -> int:
    """Downloads holding a license right now, over all accounts (for the metrics gauge)."""
    return await deps.db.downloads.count_documents(
        {"state": "active", "expires_ms": {"$gt": now_ms()}}
    )
