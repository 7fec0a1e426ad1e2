"""Per-account, per-class rate limits in Redis, fused with the token-revocation check.

One Lua script does both in one round trip, atomically: refuse a revoked token family, then
count the request in a fixed window. Keys share a ``{hash tag}`` so the script also runs on a
Redis Cluster (both keys land on the account's slot).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from api.config import RateBudget
from api.errors import RateLimited, Unauthorized

_SCRIPT = """
if KEYS[2] ~= nil and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if ARGV[1] == '0' then return 0 end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return n
"""


def revocation_key(account_id: str, family: str) -> str:
    return f"auth:revoked:{{{account_id}}}:{family}"


@dataclass(slots=True, frozen=True)
class RateState:
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window ends

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


class RateLimiter:
    def __init__(self, redis: Redis, budgets: dict[str, RateBudget], enabled: bool = True) -> None:
        self._script = redis.register_script(_SCRIPT)
        self.configure(budgets, enabled)

    def configure(self, budgets: dict[str, RateBudget], enabled: bool) -> None:
        self._budgets = dict(budgets)
        self._enabled = enabled

    async def hit(
        self, rate_class: str, subject: str, *, account_id: str = "", family: str = ""
    ) -> RateState | None:
        """Count one request of ``subject`` in ``rate_class``.

        With ``family`` set, a revoked token family answers 401 before anything is counted.
        Returns the state for the response headers, or None when limits are disabled.
        Raises :class:`RateLimited` (with ``Retry-After``) when the budget is spent.
        """
        budget = self._budgets[rate_class]
        now = int(time.time())
        window = now // budget.window_s
        reset_at = (window + 1) * budget.window_s
        tag = account_id or subject
        keys = [f"rl:{{{tag}}}:{rate_class}:{subject}:{window}"]
        if family:
            keys.append(revocation_key(account_id, family))
        count = int(
            await self._script(keys=keys, args=["1" if self._enabled else "0", budget.window_s + 1])
        )
        if count < 0:
            raise Unauthorized("The token has been revoked")
        if count == 0:
            return None
        state = RateState(budget.limit, max(0, budget.limit - count), reset_at)
        if count > budget.limit:
            retry_after = max(1, reset_at - now)
            raise RateLimited(
                f"Rate limit of {budget.limit} per {budget.window_s}s exceeded for {rate_class}",
                details=f"retry after {retry_after}s",
                headers={**state.headers(), "Retry-After": str(retry_after)},
            )
        return state
