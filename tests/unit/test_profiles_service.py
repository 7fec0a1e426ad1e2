from __future__ import annotations

import asyncio
import secrets

import pytest

from api.auth import service as auth
from api.deps import Deps
from api.errors import Conflict, InvalidRequest, NotFound, ProfileLimitReached
from api.profiles import service
from api.profiles.models import CreateProfile, UpdateProfile


async def _account(deps: Deps) -> str:
    account = await auth.create_account(
        deps,
        email=f"p-{secrets.token_hex(4)}@example.com",
        password="password-1",
        country="US",
        plan="standard",
    )
    return account.id


async def test_account_starts_with_one_profile_and_caps_at_five_even_when_racing(
    deps: Deps,
) -> None:
    account_id = await _account(deps)
    assert len(await service.list_for(deps.db, account_id=account_id)) == 1
    results = await asyncio.gather(
        *(
            service.create(
                deps.db,
                account_id=account_id,
                body=CreateProfile(name=f"p{i}"),
                base_url="http://x",
            )
            for i in range(8)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ProfileLimitReached) for r in results) == 4
    assert len(await service.list_for(deps.db, account_id=account_id)) == 5


async def test_kids_profile_is_capped(deps: Deps) -> None:
    account_id = await _account(deps)
    kids = await service.create(
        deps.db,
        account_id=account_id,
        body=CreateProfile(name="k", is_kids=True),
        base_url="http://x",
    )
    assert kids.maturity_rating == "TV-PG"
    with pytest.raises(InvalidRequest):
        await service.create(
            deps.db,
            account_id=account_id,
            body=CreateProfile(name="k2", is_kids=True, maturity_rating="R"),
            base_url="http://x",
        )
    with pytest.raises(InvalidRequest):
        await service.update(
            deps.db,
            account_id=account_id,
            profile_id=kids.id,
            body=UpdateProfile(maturity_rating="TV-MA"),
        )
    adult = await service.create(
        deps.db, account_id=account_id, body=CreateProfile(name="a"), base_url="http://x"
    )
    turned = await service.update(
        deps.db, account_id=account_id, profile_id=adult.id, body=UpdateProfile(is_kids=True)
    )
    assert (turned.is_kids, turned.maturity_rating) == (True, "TV-PG")


async def test_another_accounts_profile_is_not_found_everywhere(deps: Deps) -> None:
    owner, other = await _account(deps), await _account(deps)
    (profile,) = await service.list_for(deps.db, account_id=owner)
    with pytest.raises(NotFound):
        await service.get(deps.db, account_id=other, profile_id=profile.id)
    with pytest.raises(NotFound):
        await service.update(
            deps.db, account_id=other, profile_id=profile.id, body=UpdateProfile(name="x")
        )
    with pytest.raises(NotFound):
        await service.delete(deps.db, account_id=other, profile_id=profile.id)
    assert (
        await service.get(deps.db, account_id=owner, profile_id=profile.id)
    ).name == profile.name


async def test_last_profile_cannot_be_deleted_and_delete_frees_a_slot(deps: Deps) -> None:
    account_id = await _account(deps)
    (first,) = await service.list_for(deps.db, account_id=account_id)
    with pytest.raises(Conflict):
        await service.delete(deps.db, account_id=account_id, profile_id=first.id)
    extra = [
        await service.create(
            deps.db, account_id=account_id, body=CreateProfile(name=f"p{i}"), base_url="http://x"
        )
        for i in range(4)
    ]
    await service.delete(deps.db, account_id=account_id, profile_id=extra[0].id)
    await service.create(
        deps.db, account_id=account_id, body=CreateProfile(name="again"), base_url="http://x"
    )
