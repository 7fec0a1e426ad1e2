"""Register, login, refresh, logout, and the bootstrap of the admin and demo accounts."""

from __future__ import annotations

from api.accounts import service as accounts
from api.accounts.models import Account, Plan, RegisterRequest, Role, UserView
from api.auth.models import LoginResponse
from api.auth.passwords import hash_password, verify_password
from api.auth.tokens import Subject, TokenPair
from api.deps import Deps
from api.errors import NotFound, Unauthorized
from api.profiles import service as profiles


def subject_of(account: Account) -> Subject:
    return Subject(account.id, account.role, account.plan, account.country)


def _login_response(account: Account, pair: TokenPair) -> LoginResponse:
    return LoginResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        token_type="Bearer",
        user=UserView.of(account),
    )


async def create_account(
    deps: Deps, *, email: str, password: str, country: str, plan: Plan, role: Role = "user"
) -> Account:
    """An account and its first profile, or neither."""
    account = await accounts.create(
        deps.db,
        email=email,
        password_hash=await hash_password(password),
        country=country,
        plan=plan,
        role=role,
    )
    try:
        await profiles.create_first(
            deps.db,
            account_id=account.id,
            name=accounts.first_profile_name(account.email),
            base_url=deps.settings.public_base_url,
        )
    except BaseException:
        await accounts.delete(deps.db, account_id=account.id)  # no half-made account
        raise
    return account


async def register(deps: Deps, body: RegisterRequest) -> LoginResponse:
    account = await create_account(
        deps, email=body.email, password=body.password, country=body.country, plan=body.plan
    )
    return _login_response(account, await deps.tokens.issue(subject_of(account)))


async def login(deps: Deps, *, email: str, password: str) -> LoginResponse:
    account = await accounts.get_by_email(deps.db, email=email)
    stored_hash = account.password_hash if account else None
    if not await verify_password(stored_hash, password) or account is None:
        raise Unauthorized("Email or password is incorrect")
    return _login_response(account, await deps.tokens.issue(subject_of(account)))


async def refresh(deps: Deps, *, refresh_token: str) -> LoginResponse:
    account_id, family, jti = deps.tokens.read_refresh(refresh_token)
    try:
        account = await accounts.get(deps.db, account_id=account_id)
    except NotFound:
        raise Unauthorized("The account of this token no longer exists") from None
    pair = await deps.tokens.rotate(subject_of(account), family=family, jti=jti)
    return _login_response(account, pair)


async def ensure_account(
    deps: Deps, *, email: str, password: str, plan: Plan, role: Role, country: str = "US"
) -> Account:
    """Bootstrap: create the account if its email is free; never change an existing one."""
    existing = await accounts.get_by_email(deps.db, email=email)
    if existing is not None:
        return existing
    return await create_account(
        deps, email=email, password=password, country=country, plan=plan, role=role
    )
