"""First-start data: indexes, the admin and demo accounts, the demo catalog. Idempotent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from api.auth import service as auth
from api.deps import Deps
from core.config import Settings
from core.storage import ensure_indexes
from media.package import STILL_NAME
from media.pool import Pool, still_key
from stack.load_catalog import ensure_catalog_indexes, load

Say = Callable[[str], None]


async def bootstrap(
    settings: Settings,
    catalog_titles: int = 5000,
    say: Say = print,
    pool: Pool | None = None,
    pool_root: Path | None = None,
) -> None:
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
        if pool is not None:  # the license service reads clip keys from here
            await deps.db.media_pool.replace_one(
                {"_id": "pool"}, {"_id": "pool", **msgspec.to_builtins(pool)}, upsert=True
            )
        if pool is not None and pool_root is not None:  # demo artwork is drawn on these
            for clip in pool.clips:
                still = pool_root / clip.directory / STILL_NAME
                await deps.store.put(still_key(clip), still.read_bytes())
        await ensure_catalog_indexes(deps.db)
        if catalog_titles and await deps.db.titles.find_one({}, projection={"_id": 1}) is None:
            say(f"loading the demo catalog ({catalog_titles:,} titles)")
            await load(
                deps.db, catalog_titles, base_url=settings.public_base_url, say=lambda _: None
            )
    finally:
        await deps.close()
