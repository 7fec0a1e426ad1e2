"""Token lifecycle against real Redis and MongoDB, without Ray."""

from __future__ import annotations

import secrets

import pytest

from api.auth import service
from api.deps import Deps
from api.errors import Conflict, Unauthorized


def _email() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"


async def test_register_then_login_returns_seed_a_shape(deps: Deps) -> None:
    email = _email()
    account = await service.create_account(
        deps, email=email, password="password-1", country="RS", plan="basic"
    )
    response = await service.login(deps, email=email.upper(), password="password-1")
    assert response.user.id == account.id
    assert response.user.subscription_tier == "basic"
    assert response.expires_in == deps.settings.access_ttl_s
    assert deps.tokens.verify_access(response.access_token).country == "RS"


async def test_duplicate_email_conflicts_and_wrong_password_is_401(deps: Deps) -> None:
    email = _email()
    await service.create_account(
        deps, email=email, password="password-1", country="US", plan="premium"
    )
    with pytest.raises(Conflict):
        await service.create_account(
            deps, email=email, password="password-2", country="US", plan="basic"
        )
    with pytest.raises(Unauthorized):
        await service.login(deps, email=email, password="wrong-password")
    with pytest.raises(Unauthorized):
        await service.login(deps, email=_email(), password="password-1")


async def test_refresh_rotates_and_reuse_revokes_the_family(deps: Deps) -> None:
    email = _email()
    await service.create_account(
        deps, email=email, password="password-1", country="US", plan="standard"
    )
    first = await service.login(deps, email=email, password="password-1")
    second = await service.refresh(deps, refresh_token=first.refresh_token)
    assert second.refresh_token != first.refresh_token
    with pytest.raises(Unauthorized, match="reuse"):
        await service.refresh(deps, refresh_token=first.refresh_token)
    # The legitimate latest token dies with its family, and so do its access tokens.
    with pytest.raises(Unauthorized):
        await service.refresh(deps, refresh_token=second.refresh_token)
    principal = deps.tokens.verify_access(second.access_token)
    with pytest.raises(Unauthorized, match="revoked"):
        await deps.limiter.hit(
            "content",
            principal.account_id,
            account_id=principal.account_id,
            family=principal.family,
        )


async def test_logout_revokes_access_and_refresh_at_once(deps: Deps) -> None:
    email = _email()
    await service.create_account(
        deps, email=email, password="password-1", country="US", plan="standard"
    )
    tokens = await service.login(deps, email=email, password="password-1")
    principal = deps.tokens.verify_access(tokens.access_token)
    await deps.tokens.revoke_family(principal.account_id, principal.family)
    with pytest.raises(Unauthorized):
        await deps.limiter.hit(
            "content",
            principal.account_id,
            account_id=principal.account_id,
            family=principal.family,
        )
    with pytest.raises(Unauthorized):
        await service.refresh(deps, refresh_token=tokens.refresh_token)


async def test_tampered_and_wrong_type_tokens_are_refused(deps: Deps) -> None:
    email = _email()
    await service.create_account(
        deps, email=email, password="password-1", country="US", plan="standard"
    )
    tokens = await service.login(deps, email=email, password="password-1")
    with pytest.raises(Unauthorized):
        deps.tokens.verify_access(tokens.access_token[:-4] + "AAAA")
    with pytest.raises(Unauthorized):
        deps.tokens.verify_access(tokens.refresh_token)
    with pytest.raises(Unauthorized):
        deps.tokens.read_refresh(tokens.access_token)
