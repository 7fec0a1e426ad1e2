"""Outages answer 503 quickly; a full restart of the stack keeps accounts and signing keys."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from stack.local import LocalStack
from stack.stores import start_redis
from tests.e2e.helpers import register

pytestmark = pytest.mark.e2e


async def test_redis_down_is_503_not_a_hang_and_recovers(
    stack: LocalStack, client: httpx.AsyncClient
) -> None:
    user = await register(client)
    (redis_proc,) = [proc for proc in stack.procs if proc.name == "redis"]
    redis_proc.stop()
    try:
        started = time.monotonic()
        down = await client.get("/v1/users/profiles", headers=user.auth)
        assert down.status_code == 503 and down.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert time.monotonic() - started < 15
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"
    finally:
        stack.procs[stack.procs.index(redis_proc)] = start_redis(
            stack.data_dir / "redis", stack.redis_port, stack.log_dir
        )
    for _ in range(50):  # clients reconnect on their own
        if (await client.get("/v1/users/profiles", headers=user.auth)).status_code == 200:
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail("the API did not recover after Redis came back")


async def test_restart_keeps_accounts_profiles_and_tokens(
    stack: LocalStack, client: httpx.AsyncClient
) -> None:
    user = await register(client, plan="basic")
    made = await client.post("/v1/users/profiles", headers=user.auth, json={"name": "Survivor"})
    assert made.status_code == 201

    quiet = lambda line: None  # noqa: E731
    await asyncio.to_thread(stack.stop, quiet)  # blocking lifecycle, off the test's loop
    await asyncio.to_thread(stack.start, quiet)

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as fresh:
        names = [
            p["name"]
            for p in (await fresh.get("/v1/users/profiles", headers=user.auth)).json()["profiles"]
        ]
        assert "Survivor" in names  # the old access token still verifies: keys persisted
        login = await fresh.post(
            "/v1/auth/login", json={"email": user.email, "password": user.password}
        )
        assert login.status_code == 200 and login.json()["user"]["subscription_tier"] == "basic"
