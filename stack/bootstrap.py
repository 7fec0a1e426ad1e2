"""First-start data: indexes, the admin account and the demo account. Idempotent."""

from __future__ import annotations

from api.auth import service as auth
from api.config import Settings
from api.deps import Deps
from api.storage import ensure_indexes


async def bootstrap(settings: Settings) -> None:
    deps = Deps.build(settings, generate_keys=True)
    try:
        await ensure_indexes(deps.db)
        await auth.ensure_account(
            deps,
            email=settings.admin_email,
            password=settings.admin_password,
            plan="premium",
            role="admin",
        )
        await auth.ensure_account(
            deps,
            email=settings.demo_email,
            password=settings.demo_password,
            plan="premium",
            role="user",
        )
    finally:
        await deps.close()
