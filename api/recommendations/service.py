"""Turn a profile's signals into categories: because you watched, top picks, genre rows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

import numpy as np
from redis.asyncio import Redis

from api.activity import history
from api.catalog.models import GENRES
from api.catalog.snapshot import CatalogSnapshot, Mask
from api.deps import Deps
from api.lists import service as lists
from api.ratings import service as ratings
from api.recommendations import engine
from api.recommendations.engine import Signal
from core.storage import as_text

WATCHED, IN_PROGRESS, LISTED = 1.0, 0.5, 0.5


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    kind: str  # because_you_watched | top_picks | genre
    anchor: int | None  # the title a "because you …" row is about
    items: list[tuple[int, float]]  # (position, confidence)


@dataclass(frozen=True, slots=True)
class Signals:
    signals: list[Signal]
    anchors: list[tuple[int, str]]  # (position, "watched" | "liked"), most recent first
    seen: set[int]  # watched to the end, or thumbs-down: never recommended again
    viewings: list[history.Viewing]


async def signals_for(deps: Deps, snapshot: CatalogSnapshot, profile_id: str) -> Signals:
    viewings, rated, listed = await asyncio.gather(
        history.recent(deps.db, profile_id=profile_id),
        ratings.for_profile(deps.db, profile_id=profile_id),
        lists.entries(deps.db, profile_id=profile_id),
    )
    weights: dict[int, float] = {}
    anchors: list[tuple[int, str]] = []
    seen: set[int] = set()

    def add(title_id: str, weight: float) -> int | None:
        pos = snapshot.by_id.get(title_id)
        if pos is not None:
            weights[pos] = weights.get(pos, 0.0) + weight
        return pos

    for viewing in viewings:
        pos = add(viewing.title_id, WATCHED if viewing.watched else IN_PROGRESS)
        if pos is not None and pos not in {a for a, _ in anchors}:
            anchors.append((pos, "watched"))
        if pos is not None and viewing.watched:
            seen.add(pos)
    for rating in rated:
        pos = add(rating.title_id, ratings.TASTE[rating.rating])
        if pos is not None and rating.rating == "thumbs_down":
            seen.add(pos)
        elif pos is not None and pos not in {a for a, _ in anchors}:
            anchors.append((pos, "liked"))
    for entry in listed:
        add(entry.title_id, LISTED)
    down = {pos for pos in seen if weights.get(pos, 0.0) < 0}
    signals = [Signal(pos, -abs(w) if pos in down else w) for pos, w in weights.items()]
    return Signals(signals, [a for a in anchors if a[0] not in down], seen, viewings)


async def cowatch(redis: Redis, title_id: str) -> dict[str, float]:
    """Titles watched by the same profiles (written by the playback path as it records views)."""
    pairs = cast(
        list[tuple[bytes, float]],
        await redis.zrevrange(f"cowatch:{title_id}", 0, 99, withscores=True),
    )
    return {as_text(member): float(score) for member, score in pairs}


async def categories(
    deps: Deps,
    snapshot: CatalogSnapshot,
    visible: Mask,
    signals: Signals,
    *,
    profile_name: str,
    per_row: int = 20,
    anchors: int = 2,
) -> list[Category]:
    penalty = engine.dislike_penalty(snapshot, signals.signals)
    keep = 1.0 - engine.DOWN_PENALTY * penalty
    allowed = visible.copy()
    allowed[list(signals.seen)] = False
    rows: list[Category] = []
    for pos, why in signals.anchors[:anchors]:
        similar = engine.blend_cowatch(
            snapshot,
            engine.similarity(snapshot, pos),
            await cowatch(deps.redis, snapshot.titles[pos].id),
        )
        label = "watched" if why == "watched" else "liked"
        rows.append(
            Category(
                f"Because you {label} {snapshot.titles[pos].name}",
                "because_you_watched",
                pos,
                engine.top(similar * keep, allowed, per_row),
            )
        )
    taste = engine.taste_scores(snapshot, signals.signals)
    picks = 0.7 * taste + 0.3 * snapshot.popularity if taste.any() else snapshot.popularity
    rows.append(
        Category(
            f"Top picks for {profile_name}",
            "top_picks",
            None,
            engine.top(picks * keep, allowed, per_row),
        )
    )
    for genre in favourite_genres(snapshot, signals.signals, visible, 2):
        in_genre = snapshot.genre_matrix[:, GENRES.index(genre)] > 0
        rows.append(
            Category(
                f"Popular in {genre.title()}",
                "genre",
                None,
                engine.top(snapshot.popularity * keep, allowed & in_genre, per_row),
            )
        )
    return [row for row in rows if row.items]


def favourite_genres(
    snapshot: CatalogSnapshot, signals: list[Signal], visible: Mask, count: int
) -> list[str]:
    """The profile's strongest genres; for a new profile, the genres most watched overall."""
    weights = np.zeros(len(GENRES), np.float32)
    for signal in signals:
        weights += signal.weight * snapshot.genre_matrix[signal.pos]
    if not (weights > 0).any():
        weights = snapshot.popularity[visible] @ snapshot.genre_matrix[visible]
    order = np.argsort(-weights, kind="stable")
    return [GENRES[int(i)] for i in order[:count] if weights[int(i)] > 0]
