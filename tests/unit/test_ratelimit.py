from __future__ import annotations

import secrets
import time

import pytest

from api.deps import Deps
from api.errors import RateLimited
from api.ratelimit import RateLimiter
from core.config import RateBudget


async def test_budget_counts_down_then_429_with_retry_after(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis, {"auth": RateBudget(3, 60)})
    subject = secrets.token_hex(4)
    states = [await limiter.hit("auth", subject) for _ in range(3)]
    assert [s.remaining for s in states if s] == [2, 1, 0]
    assert all(s and s.limit == 3 and s.reset_at > time.time() for s in states)
    with pytest.raises(RateLimited) as caught:
        await limiter.hit("auth", subject)
    retry_after = int(caught.value.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert caught.value.headers["X-RateLimit-Remaining"] == "0"
    # Another subject has its own budget.
    assert await limiter.hit("auth", secrets.token_hex(4)) is not None


async def test_disabled_limits_still_check_revocation_but_count_nothing(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis, {"auth": RateBudget(1, 60)}, enabled=False)
    subject = secrets.token_hex(4)
    for _ in range(5):
        assert await limiter.hit("auth", subject, account_id=subject, family="f") is None


async def test_a_redis_that_forgot_the_script_is_taught_it_again(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis, {"auth": RateBudget(5, 60)})
    subject = secrets.token_hex(4)
    assert (await limiter.hit("auth", subject)).remaining == 4  # type: ignore[union-attr]
    await deps.redis.script_flush()  # as after a Redis restart without persistence
    assert (await limiter.hit("auth", subject)).remaining == 3  # type: ignore[union-attr]


async def test_admit_reads_the_accounts_profiles_version(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis, {"content": RateBudget(5, 60)})
    account = secrets.token_hex(4)
    key = f"profiles:version:{{{account}}}"
    first = await limiter.admit("content", account_id=account, family="f", version_key=key)
    await deps.redis.incr(key)
    second = await limiter.admit("content", account_id=account, family="f", version_key=key)
    assert (first.profiles_version, second.profiles_version) == (0, 1)
    assert second.state is not None and second.state.remaining == 3


async def test_a_runtime_config_naming_some_classes_keeps_the_others(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis, {"auth": RateBudget(3, 60)})
    limiter.configure({"streaming": RateBudget(10**9, 60)}, True)  # as a load test sets it
    content = await limiter.hit("content", secrets.token_hex(4))  # seed A's budget, no error
    assert content is not None and content.limit == 1000
    streaming = await limiter.hit("streaming", secrets.token_hex(4))
    assert streaming is not None and streaming.limit == 10**9
