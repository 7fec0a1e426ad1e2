"""Accounts in MongoDB: create (with its first profile), get, get by email, profile slots."""

from __future__ import annotations

import secrets

import msgspec
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.accounts.models import MAX_PROFILES, Account, Plan, Role
from api.errors import Conflict, NotFound, ProfileLimitReached
from api.wire import utc_now
from core.storage import Document, to_document


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def build(
    *, email: str, password_hash: str, country: str, plan: Plan, role: Role = "user"
) -> Account:
    """A new account, its first profile slot already reserved for the profile made with it."""
    return Account(
        id=new_id("acc"),
        email=normalize_email(email),
        password_hash=password_hash,
        country=country,
        plan=plan,
        role=role,
        profile_count=1,
        created_at=utc_now(),
    )


def first_profile_name(email: str) -> str:
    """The name of the profile created with an account: the email's local part."""
    return email.split("@", 1)[0][:50]


async def create(
    db: AsyncDatabase[Document],
    *,
    email: str,
    password_hash: str,
    country: str,
    plan: Plan,
    role: Role = "user",
) -> Account:
    """Insert the account; its first profile slot is reserved for the profile created with it."""
    account = build(email=email, password_hash=password_hash, country=country, plan=plan, role=role)
    try:
        await db.accounts.insert_one(to_document(account))
    except DuplicateKeyError:
        raise Conflict("An account with this email already exists", details="email") from None
    return account


async def delete(db: AsyncDatabase[Document], *, account_id: str) -> None:
    await db.accounts.delete_one({"_id": account_id})


async def get(db: AsyncDatabase[Document], *, account_id: str) -> Account:
    doc = await db.accounts.find_one({"_id": account_id})
    if doc is None:
        raise NotFound("Account not found")
    return msgspec.convert(doc, Account)


async def get_by_email(db: AsyncDatabase[Document], *, email: str) -> Account | None:
    doc = await db.accounts.find_one({"email": normalize_email(email)})
    return None if doc is None else msgspec.convert(doc, Account)


async def reserve_profile_slot(db: AsyncDatabase[Document], *, account_id: str) -> None:
    """Atomically take one of the account's profile slots, so racing creates cannot pass 5."""
    taken = await db.accounts.update_one(
        {"_id": account_id, "profile_count": {"$lt": MAX_PROFILES}},
        {"$inc": {"profile_count": 1}},
    )
    if taken.matched_count == 0:
        raise ProfileLimitReached(
            f"An account has at most {MAX_PROFILES} profiles", details="profile_count"
        )


async def release_profile_slot(db: AsyncDatabase[Document], *, account_id: str) -> None:
    await db.accounts.update_one(
        {"_id": account_id, "profile_count": {"$gt": 0}}, {"$inc": {"profile_count": -1}}
    )
