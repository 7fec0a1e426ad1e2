"""Who is asking, for catalog reads: the account's country and, with a profile, its cap."""

from __future__ import annotations

from api import params
from api.catalog.snapshot import Viewer
from api.deps import Deps
from api.http import Request
from api.profiles.models import Profile


async def viewer_for(
    deps: Deps, req: Request, profile_id: str | None = None
) -> tuple[Viewer, Profile | None]:
    """``profile_id`` (argument, else the query's) must be the caller's own, or it is a 404."""
    assert req.principal is not None
    profile_id = profile_id or params.text(req, "profile_id", max_length=64)
    profile = None
    if profile_id is not None:
        profile = await deps.profiles.get(
            account_id=req.account_id, profile_id=profile_id, version=req.profiles_version
        )
    cap = profile.maturity_rating if profile is not None else None
    return Viewer(req.principal.country, cap), profile
