"""Who is asking, for catalog reads: the viewer's country and, with a profile, its cap.

The viewer's country is decided here, by the service, never by the client (CONTRACT, playback
session checks): the account's country, or the one a trusted edge puts in a header when
``TRUSTED_COUNTRY_HEADER`` names it. A country a client declares may only narrow what that
allows (see :func:`api.playback.service.playable_title`).
"""

from __future__ import annotations

import re

from api import params
from api.catalog.snapshot import Viewer
from api.deps import Deps
from api.http import Request
from api.profiles.models import Profile

_COUNTRY = re.compile(r"[A-Z]{2}")


def viewer_country(deps: Deps, req: Request) -> str:
    """The trusted edge's country when one is configured and says a valid one, else the account's."""
    assert req.principal is not None
    header = deps.settings.trusted_country_header
    if header:
        edge = req.headers.get(header, "").strip().upper()
        if _COUNTRY.fullmatch(edge):
            return edge
    return req.principal.country


async def viewer_for(
    deps: Deps, req: Request, profile_id: str | None = None
) -> tuple[Viewer, Profile | None]:
    """``profile_id`` (argument, else the query's) must be the caller's own, or it is a 404."""
    profile_id = profile_id or params.text(req, "profile_id", max_length=64)
    profile = None
    if profile_id is not None:
        profile = await deps.profiles.get(
            account_id=req.account_id, profile_id=profile_id, version=req.profiles_version
        )
    cap = profile.maturity_rating if profile is not None else None
    return Viewer(viewer_country(deps, req), cap), profile
