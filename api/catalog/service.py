"""Catalog reads over a snapshot: one title for a viewer, and trending with a cold start."""

from __future__ import annotations

import numpy as np

from api.catalog.models import Title
from api.catalog.responses import Availability
from api.catalog.snapshot import CatalogSnapshot, Positions, Viewer
from api.errors import NotFound
from api.maturity import allows


def title_for(
    snapshot: CatalogSnapshot, viewer: Viewer, title_id: str
) -> tuple[Title, Availability]:
    """A published title, or 404. Out of region it is shown but not playable; above the
    profile's cap it does not exist for that profile."""
    pos = snapshot.by_id.get(title_id)
    if pos is None or not snapshot.published[pos]:
        raise NotFound("Title not found")
    title = snapshot.titles[pos]
    if viewer.maturity_cap is not None and not allows(viewer.maturity_cap, title.maturity_rating):
        raise NotFound("Title not found")
    in_region = snapshot.available_in(pos, viewer.country)
    return title, Availability(
        country=viewer.country,
        playable=in_region,
        reason=None if in_region else "NOT_AVAILABLE_IN_REGION",
    )


def trending(
    snapshot: CatalogSnapshot, viewer: Viewer, scores: dict[str, float], limit: int
) -> Positions:
    """Titles by decayed engagement; when there is too little, popularity fills the rest."""
    visible = snapshot.visible(viewer)
    hot = [
        pos
        for title_id, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        if (pos := snapshot.by_id.get(title_id)) is not None and visible[pos]
    ][:limit]
    if len(hot) < limit:
        taken = set(hot)
        fill = (p for p in snapshot.in_order(snapshot.by_popularity, visible) if p not in taken)
        hot += [int(p) for _, p in zip(range(limit - len(hot)), fill, strict=False)]
    return np.asarray(hot, dtype=np.intp)
