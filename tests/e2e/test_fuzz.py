"""Schemathesis over every operation of ``GET /v1/openapi.json``, against the session's stack.

A fresh account (premium, with the profile every account starts with) fuzzes every operation
with its own token: positive and negative cases, a bounded number per operation, a fixed seed,
a time cap; half of the cases draw its real profile, title and asset ids, so success paths
run too. Then the admin account fuzzes the admin operations, with no real ids, so the demo
catalog the later tests use is never edited or deleted. Pass means no 5xx and every response
matching the document: status documented, content type, headers and body as described.
What is left out, and why, is in :mod:`loadtest.fuzz` (``EXCLUDED_PATHS``: logout, which
would revoke the run's token; ``ADMIN_EXCLUDED_PATHS``: seed A's upload, which starts an
ingest job per case; ``EXCLUDED_CHECKS``: positive acceptance, since schema-valid input can
still break a rule such as a kids profile asking for an adult rating) and in
``loadtest/schemathesis.toml``. ``make fuzz`` is the long run (docs/fuzz.md).

The run raises the rate-limit budgets through the stack's live configuration (as a load test
does) and restores them afterwards: at seed A's budgets most of it would be 429s.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from loadtest import fuzz
from stack.local import LocalStack
from tests.e2e.helpers import first_profile, register

pytestmark = pytest.mark.e2e

EXAMPLES = 25  # per operation and phase
# Schemathesis's own budgets (it keeps generating until they are spent), so the whole test
# stays under ~4 minutes: every operation as the fresh account, then the admin operations.
VIEWER_MAX_TIME_S = 120
ADMIN_MAX_TIME_S = 30
TIMEOUT_S = 300  # per run: a hung run fails the test instead of the suite


def _fuzz(stack: LocalStack, token: str) -> dict[str, fuzz.Outcome]:
    with fuzz.raised_budgets(stack):
        return {
            "viewer": fuzz.run(
                stack.base_url,
                examples=EXAMPLES,
                max_time_s=VIEWER_MAX_TIME_S,
                timeout_s=TIMEOUT_S,
                token=token,
            ),
            "admin": fuzz.run(
                stack.base_url,
                examples=EXAMPLES,
                max_time_s=ADMIN_MAX_TIME_S,
                timeout_s=TIMEOUT_S,
                admin=True,
            ),
        }


async def test_fuzzing_finds_no_server_error_and_no_undescribed_response(
    stack: LocalStack, client: httpx.AsyncClient
) -> None:
    user = await register(client, plan="premium")
    assert await first_profile(client, user)  # the account starts with a profile
    outcomes = await asyncio.to_thread(_fuzz, stack, user.access_token)
    for name, outcome in outcomes.items():
        print(f"[{name}] {outcome.seconds:.0f} s\n{outcome.summary}")
    for name, outcome in outcomes.items():
        assert outcome.returncode == 0, f"{name} pass:\n{outcome.output[-30_000:]}"
    # The stack's own budgets are back for the tests that follow, and what the run counted is
    # not in them: the admin account (which the later tests use) still has its whole budget.
    after = await client.get("/v1/users/profiles", headers=user.auth)
    assert after.headers["x-ratelimit-limit"] == "1000"
    admin = {"Authorization": f"Bearer {await asyncio.to_thread(fuzz.admin_token, stack.base_url)}"}
    still = await client.get("/v1/users/profiles", headers=admin)
    assert still.status_code == 200, still.text
    assert int(still.headers["x-ratelimit-remaining"]) > 900
