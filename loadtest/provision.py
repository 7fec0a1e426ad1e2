"""Load-test fixture: N signed-in accounts, each with one profile, written in bulk.

    python -m loadtest.provision --count 1000 --out accounts.json \\
        [--plan-mix basic=30,standard=40,premium=30] [--run-id ID] [--password PW]

Registering 10,000 viewers through the API would cost 10,000 Argon2id hashes and a long ramp
before the first heartbeat, so this writes the same documents the API writes (the ``Account``
model and the profile builder of ``api.profiles.service``) straight to MongoDB with
``insert_many``, and signs every account in with the project's ``TokenService`` and the stack's
key ring. The Locust suite (``--accounts-file``) then starts playing at once.

FIXTURE ONLY: every account shares ONE password, hashed once with Argon2id and the hash reused;
the password is written into the output file (mode 0600) next to the tokens.

Settings come from ``core.config.Settings.from_env()``: with no environment it targets
``make run`` (``var/``); for a private stack pass that stack's ``MONGODB_URL``, ``REDIS_URL`` and
``STREAMING_DATA_DIR`` (or ``JWT_KEYS_DIR``). Access tokens live ``ACCESS_TOKEN_TTL_S`` (set it
here for long soaks; the verifier only checks ``exp``); the Locust users sign in again with the
shared password when a token is about to expire.

Emails are ``load-<run id>-<index>@loadtest.example``: runs never collide, and re-running with
the same ``--run-id`` reuses the accounts already there (creating only the missing ones) and
mints fresh tokens, so the command is idempotent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import msgspec
from pymongo.asynchronous.database import AsyncDatabase

from api.accounts import service as accounts
from api.accounts.models import Account, Plan
from api.auth.keys import KeyRing
from api.auth.passwords import hash_password
from api.auth.service import subject_of
from api.auth.tokens import TokenService
from api.profiles import service as profiles
from api.profiles.models import CreateProfile
from core.config import Settings
from core.storage import Document, mongo_client, redis_client, to_document

PLANS: tuple[Plan, ...] = ("basic", "standard", "premium")
DEFAULT_MIX = "basic=30,standard=40,premium=30"
BATCH = 1000  # documents per insert_many: large enough to amortise round trips
SIGN_IN_CONCURRENCY = 200  # Redis SETs in flight while minting refresh families
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Provisioned:
    """One line of the accounts file: everything a Locust viewer needs to start playing."""

    email: str
    account_id: str
    profile_id: str
    plan: str
    country: str
    access_token: str
    refresh_token: str
    expires_at: int


def provision_into(env: dict[str, str], count: int, out: Path, plan_mix: str) -> Path:
    """Run this module against the stack whose settings are ``env`` (a subprocess, so its
    settings never leak into the caller's); the accounts file lands at ``out``."""
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "loadtest.provision", "--count", str(count), "--out", str(out),
         "--plan-mix", plan_mix],
        check=True,
        env={**os.environ, **env},
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return out


def parse_plan_mix(raw: str) -> dict[Plan, float]:
    """``basic=30,standard=40,premium=30`` → weights; plans left out get none."""
    weights: dict[Plan, float] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, value = item.partition("=")
        plan = next((p for p in PLANS if p == name.strip()), None)
        if plan is None or not value:
            raise ValueError(f"plan mix entry {item!r} is not PLAN=WEIGHT with PLAN in {PLANS}")
        weights[plan] = float(value)
    if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise ValueError(f"plan mix {raw!r} needs at least one positive weight")
    return weights


def assign_plans(count: int, mix: dict[Plan, float], seed: str) -> list[Plan]:
    """Exactly the mix's proportions (largest remainder), shuffled reproducibly per run."""
    total = sum(mix.values())
    shares = {plan: count * weight / total for plan, weight in mix.items()}
    counts = {plan: int(share) for plan, share in shares.items()}
    by_remainder = sorted(shares, key=lambda plan: shares[plan] - counts[plan], reverse=True)
    for plan in by_remainder[: count - sum(counts.values())]:
        counts[plan] += 1
    plans = [plan for plan, n in counts.items() for _ in range(n)]
    random.Random(seed).shuffle(plans)
    return plans


def email_prefix(run_id: str) -> str:
    return f"load-{run_id}-"


def email_for(run_id: str, index: int) -> str:
    return f"{email_prefix(run_id)}{index:06d}@loadtest.example"


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _bounded(jobs: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Run awaitables with at most ``limit`` in flight, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


async def existing_accounts(
    db: AsyncDatabase[Document], run_id: str
) -> dict[str, tuple[Account, str]]:
    """Accounts a previous run with this id made: email → (account, its first profile id)."""
    prefix = email_prefix(run_id)
    # A range on the unique email index instead of a regex: any MongoDB-wire server answers it.
    cursor = db.accounts.find({"email": {"$gte": prefix, "$lt": prefix + "\uffff"}})
    found = {doc["_id"]: msgspec.convert(doc, Account) async for doc in cursor}
    first_profile: dict[str, str] = {}
    for ids in _chunks(list(found), BATCH):
        query = db.profiles.find({"account_id": {"$in": list(ids)}}).sort("created_at", 1)
        async for doc in query:
            first_profile.setdefault(doc["account_id"], doc["_id"])
    return {
        account.email: (account, first_profile[account.id])
        for account in found.values()
        if account.id in first_profile  # an account without a profile is not a usable fixture
    }


def build_account(email: str, password_hash: str, plan: Plan, country: str) -> Account:
    """The document ``accounts.create`` inserts, with its first profile slot already taken."""
    return accounts.build(email=email, password_hash=password_hash, country=country, plan=plan)


async def insert_batch(
    db: AsyncDatabase[Document], made: Sequence[Account], base_url: str
) -> list[str]:
    """One insert_many for the accounts, one for their first profiles; all or nothing."""
    built = [
        profiles.build(
            account.id, CreateProfile(name=accounts.first_profile_name(account.email)), base_url
        )
        for account in made
    ]
    await db.accounts.insert_many([to_document(account) for account in made], ordered=False)
    try:
        await db.profiles.insert_many([to_document(profile) for profile in built], ordered=False)
    except BaseException:  # no account without its profile, as in the API's own create
        await db.accounts.delete_many({"_id": {"$in": [account.id for account in made]}})
        raise
    return [profile.id for profile in built]


async def provision(
    settings: Settings,
    *,
    count: int,
    mix: dict[Plan, float],
    run_id: str,
    password: str,
    country: str,
    say: Callable[[str], None] = print,
) -> list[Provisioned]:
    # The stack's own keys, never generated here: tokens must verify on the running replicas.
    keys = KeyRing.load(settings.jwt_keys_dir)
    mongo, redis = mongo_client(settings), redis_client(settings)
    tokens = TokenService.for_settings(redis, keys, settings)
    try:
        db = mongo[settings.mongodb_db]
        found = await existing_accounts(db, run_id)
        password_hash = await hash_password(password)  # once: a fixture, not a real sign-up
        plans = assign_plans(count, mix, run_id)
        wanted = [(email_for(run_id, i), plans[i]) for i in range(count)]
        missing = [
            build_account(email, password_hash, plan, country)
            for email, plan in wanted
            if email not in found
        ]
        say(f"run {run_id}: {count - len(missing)} accounts exist, creating {len(missing)}")
        for batch in _chunks(missing, BATCH):
            for account, profile_id in zip(
                batch, await insert_batch(db, batch, settings.public_base_url), strict=True
            ):
                found[account.email] = (account, profile_id)
        chosen = [found[email] for email, _ in wanted]
        say(f"signing in {len(chosen)} accounts")
        pairs = await _bounded(
            (tokens.issue(subject_of(account)) for account, _ in chosen), SIGN_IN_CONCURRENCY
        )
    finally:
        await redis.aclose()
        await mongo.close()
    expires_at = int(time.time()) + settings.access_ttl_s
    return [
        Provisioned(
            email=account.email,
            account_id=account.id,
            profile_id=profile_id,
            plan=account.plan,
            country=account.country,
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_at=expires_at,
        )
        for (account, profile_id), pair in zip(chosen, pairs, strict=True)
    ]


def write_accounts(path: Path, run_id: str, password: str, rows: list[Provisioned]) -> None:
    """Tokens and the shared password inside: readable by the owner only."""
    body = {"run_id": run_id, "password": password, "accounts": [asdict(row) for row in rows]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle)


def _run_id(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9]{1,24}", raw):
        raise argparse.ArgumentTypeError("a run id is 1-24 lowercase letters and digits")
    return raw


def _plan_mix(raw: str) -> dict[Plan, float]:
    try:
        return parse_plan_mix(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.provision",
        description="Create signed-in load-test accounts in bulk (a fixture: one shared password).",
    )
    parser.add_argument("--count", type=int, required=True, help="number of accounts")
    parser.add_argument("--out", type=Path, required=True, help="accounts file to write (JSON)")
    parser.add_argument("--plan-mix", type=_plan_mix, default=DEFAULT_MIX, help=DEFAULT_MIX)
    parser.add_argument(
        "--run-id",
        type=_run_id,
        default=time.strftime("%Y%m%d%H%M") + secrets.token_hex(2),
        help="email prefix; the same id again reuses that run's accounts (default: new)",
    )
    parser.add_argument("--password", default="load-test-password", help="shared by all")
    parser.add_argument("--country", default="US", help="country of every account")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not re.fullmatch(r"[A-Z]{2}", args.country):
        parser.error("--country is an ISO 3166 alpha-2 code, e.g. US")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    settings = Settings.from_env()
    try:
        rows = asyncio.run(
            provision(
                settings,
                count=args.count,
                mix=args.plan_mix,
                run_id=args.run_id,
                password=args.password,
                country=args.country,
                say=lambda line: print(line, file=sys.stderr),
            )
        )
    except FileNotFoundError as exc:  # tokens signed with other keys would all be refused
        sys.exit(f"{exc}: point STREAMING_DATA_DIR or JWT_KEYS_DIR at the stack's keys")
    write_accounts(args.out, args.run_id, args.password, rows)
    plans = {plan: sum(row.plan == plan for row in rows) for plan in PLANS}
    print(
        f"wrote {len(rows)} accounts ({plans}) to {args.out} in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
