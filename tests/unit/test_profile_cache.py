"""The replica's profile cache: served only at the version the request read, never stale."""

from __future__ import annotations

import secrets

import pytest

from api.auth import service as auth
from api.deps import Deps
from api.errors import NotFound
from api.profiles import service
from api.profiles.cache import ProfileCache, bump_version, version_key
from api.profiles.models import UpdateProfile


async def _first_profile(deps: Deps) -> tuple[str, str]:
    account = await auth.create_account(
        deps,
        email=f"c-{secrets.token_hex(4)}@example.com",
        password="password-1",
        country="US",
        plan="standard",
    )
    profile = (await service.list_for(deps.db, account_id=account.id))[0]
    return account.id, profile.id


async def _version(deps: Deps, account_id: str) -> int:
    return int(await deps.redis.get(version_key(account_id)) or 0)


async def test_a_cached_profile_is_served_until_its_account_version_moves(deps: Deps) -> None:
    cache = ProfileCache(deps.db)
    account_id, profile_id = await _first_profile(deps)
    version = await _version(deps, account_id)
    first = await cache.get(account_id=account_id, profile_id=profile_id, version=version)
    again = await cache.get(account_id=account_id, profile_id=profile_id, version=version)
    assert again == first and (cache.hits, cache.misses) == (1, 1)

    await bump_version(deps.redis, account_id)
    await service.update(
        deps.db, account_id=account_id, profile_id=profile_id, body=UpdateProfile(name="Renamed")
    )
    await bump_version(deps.redis, account_id)
    fresh = await cache.get(
        account_id=account_id, profile_id=profile_id, version=await _version(deps, account_id)
    )
    assert fresh.name == "Renamed" and cache.misses == 2


async def test_another_accounts_profile_is_a_404_cached_or_not(deps: Deps) -> None:
    cache = ProfileCache(deps.db)
    account_id, profile_id = await _first_profile(deps)
    other, _ = await _first_profile(deps)
    await cache.get(account_id=account_id, profile_id=profile_id, version=0)
    for version in (0, None):
        with pytest.raises(NotFound):
            await cache.get(account_id=other, profile_id=profile_id, version=version)


async def test_without_a_version_every_read_goes_to_mongodb(deps: Deps) -> None:
    cache = ProfileCache(deps.db)
    account_id, profile_id = await _first_profile(deps)
    for _ in range(2):
        await cache.get(account_id=account_id, profile_id=profile_id, version=None)
    assert (cache.hits, cache.misses) == (0, 2)
