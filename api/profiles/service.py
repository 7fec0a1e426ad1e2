"""Profiles in MongoDB. Every lookup is scoped by account, so another account's id is a 404."""

from __future__ import annotations

import msgspec
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from api.accounts import service as accounts
from api.errors import Conflict, InvalidRequest, NotFound
from api.maturity import ADULT_DEFAULT, KIDS_CAP, MaturityRating, allows
from api.profiles.models import CreateProfile, Profile, UpdateProfile
from api.wire import utc_now
from core.storage import Document, to_document


def default_avatar(base_url: str, profile_id: str) -> str:
    return f"{base_url}/static/avatars/{profile_id}.png"


def _capped_rating(is_kids: bool, requested: MaturityRating | None) -> MaturityRating:
    """A kids profile defaults to, and may not exceed, the kids cap."""
    if not is_kids:
        return requested or ADULT_DEFAULT
    if requested is None:
        return KIDS_CAP
    if not allows(KIDS_CAP, requested):
        raise InvalidRequest(
            f"A kids profile is capped at {KIDS_CAP}",
            details=f"maturity_rating: {requested} is above the kids cap {KIDS_CAP}",
        )
    return requested


def build(account_id: str, body: CreateProfile, base_url: str) -> Profile:
    profile_id = accounts.new_id("prof")
    return Profile(
        id=profile_id,
        account_id=account_id,
        name=body.name,
        avatar_url=body.avatar_url or default_avatar(base_url, profile_id),
        is_kids=body.is_kids,
        language=body.language,
        maturity_rating=_capped_rating(body.is_kids, body.maturity_rating),
        created_at=utc_now(),
    )


async def create_first(
    db: AsyncDatabase[Document], *, account_id: str, name: str, base_url: str
) -> Profile:
    """The profile created with an account; its slot was reserved by ``accounts.create``."""
    profile = build(account_id, CreateProfile(name=name), base_url)
    await db.profiles.insert_one(to_document(profile))
    return profile


async def create(
    db: AsyncDatabase[Document], *, account_id: str, body: CreateProfile, base_url: str
) -> Profile:
    profile = build(account_id, body, base_url)  # validate before taking a slot
    await accounts.reserve_profile_slot(db, account_id=account_id)
    try:
        await db.profiles.insert_one(to_document(profile))
    except BaseException:
        await accounts.release_profile_slot(db, account_id=account_id)
        raise
    return profile


async def list_for(db: AsyncDatabase[Document], *, account_id: str) -> list[Profile]:
    cursor = db.profiles.find({"account_id": account_id}).sort("created_at", 1)
    return [msgspec.convert(doc, Profile) async for doc in cursor]


async def get(db: AsyncDatabase[Document], *, account_id: str, profile_id: str) -> Profile:
    doc = await db.profiles.find_one({"_id": profile_id, "account_id": account_id})
    if doc is None:
        raise NotFound("Profile not found")
    return msgspec.convert(doc, Profile)


async def update(
    db: AsyncDatabase[Document], *, account_id: str, profile_id: str, body: UpdateProfile
) -> Profile:
    current = await get(db, account_id=account_id, profile_id=profile_id)
    changes = {
        name: value
        for name in ("name", "avatar_url", "language")
        if (value := getattr(body, name)) is not None
    }
    is_kids = current.is_kids if body.is_kids is None else body.is_kids
    if body.maturity_rating is not None or body.is_kids is not None:
        # With no rating given, keep the current one while it still fits; a kids profile whose
        # rating is above the cap drops to the cap.
        requested = body.maturity_rating
        if requested is None and (not is_kids or allows(KIDS_CAP, current.maturity_rating)):
            requested = current.maturity_rating
        changes["maturity_rating"] = _capped_rating(is_kids, requested)
        changes["is_kids"] = is_kids
    if not changes:
        return current
    # Conditional on the kids flag we validated against, so a racing update cannot bypass the cap.
    doc = await db.profiles.find_one_and_update(
        {"_id": profile_id, "account_id": account_id, "is_kids": current.is_kids},
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        raise Conflict("The profile changed while it was being updated; retry")
    return msgspec.convert(doc, Profile)


async def delete(db: AsyncDatabase[Document], *, account_id: str, profile_id: str) -> None:
    await get(db, account_id=account_id, profile_id=profile_id)
    if await db.profiles.count_documents({"account_id": account_id}) <= 1:
        raise Conflict("An account keeps at least one profile", details="profile_id")
    deleted = await db.profiles.delete_one({"_id": profile_id, "account_id": account_id})
    if deleted.deleted_count == 0:
        raise NotFound("Profile not found")
    await accounts.release_profile_slot(db, account_id=account_id)
