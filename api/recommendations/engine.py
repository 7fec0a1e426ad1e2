"""Recommendations from content features, taste signals and (once playback exists) co-watching.

Everything is a vector over catalog positions, so one title against 100,000 costs a handful of
numpy operations:

- similarity(a, ·) = 0.45 genre Jaccard + 0.2 shared cast + 0.15 same director
  + 0.1 era closeness + 0.05 same type + 0.05 popularity, blended 70/30 with co-watching
  counts when there are any;
- taste = signal-weighted genre profile from history, ratings and the list;
- thumbs-down titles push down everything similar to them, so "near copies" sink too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from api.catalog.snapshot import CatalogSnapshot, Mask

Scores = npt.NDArray[np.float32]

DOWN_PENALTY = 0.8
COWATCH_BLEND = 0.3


@dataclass(frozen=True, slots=True)
class Signal:
    pos: int
    weight: float  # > 0 liked or watched, < 0 disliked


def similarity(snapshot: CatalogSnapshot, pos: int) -> Scores:
    """How alike each title is to the one at ``pos``, in [0, 1]."""
    title = snapshot.titles[pos]
    genres = snapshot.genre_matrix
    row = genres[pos]
    shared = genres @ row
    union = genres.sum(axis=1) + row.sum() - shared
    jaccard = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
    cast = np.zeros(len(snapshot.titles), np.float32)
    for person in title.cast:
        cast[snapshot.cast_index.get(person, [])] += 1.0
    cast = np.minimum(cast / max(1, min(3, len(title.cast))), 1.0)
    director = np.zeros(len(snapshot.titles), np.float32)
    director[snapshot.director_index.get(title.director, [])] = 1.0
    era = np.exp(-np.abs(snapshot.release_year - title.release_year) / 8.0).astype(np.float32)
    same_type = (snapshot.type_code == snapshot.type_code[pos]).astype(np.float32)
    score = (
        0.45 * jaccard
        + 0.2 * cast
        + 0.15 * director
        + 0.1 * era
        + 0.05 * same_type
        + 0.05 * snapshot.popularity
    )
    result: Scores = score.astype(np.float32)
    result[pos] = 0.0
    return result


def blend_cowatch(
    snapshot: CatalogSnapshot, content: Scores, cowatch: Mapping[str, float]
) -> Scores:
    """Mix in "people who watched this also watched" counts, scaled to [0, 1]."""
    if not cowatch:
        return content
    counts = np.zeros(len(snapshot.titles), np.float32)
    for title_id, count in cowatch.items():
        if (pos := snapshot.by_id.get(title_id)) is not None:
            counts[pos] = count
    peak = float(counts.max())
    if peak <= 0:
        return content
    return ((1 - COWATCH_BLEND) * content + COWATCH_BLEND * counts / peak).astype(np.float32)


def dislike_penalty(snapshot: CatalogSnapshot, signals: Iterable[Signal]) -> Scores:
    """For each title, how close it is to the nearest thing the profile gave a thumbs-down."""
    penalty = np.zeros(len(snapshot.titles), np.float32)
    for signal in signals:
        if signal.weight < 0:
            penalty = np.maximum(penalty, similarity(snapshot, signal.pos))
            penalty[signal.pos] = 1.0
    return penalty


def taste_scores(snapshot: CatalogSnapshot, signals: Iterable[Signal]) -> Scores:
    """Cosine between each title's genres and the profile's weighted genre profile."""
    taste = np.zeros(snapshot.genre_matrix.shape[1], np.float32)
    for signal in signals:
        taste += signal.weight * snapshot.genre_matrix[signal.pos]
    norm = float(np.linalg.norm(taste))
    if norm == 0.0:
        return np.zeros(len(snapshot.titles), np.float32)
    rows = np.linalg.norm(snapshot.genre_matrix, axis=1)
    cosine = (snapshot.genre_matrix @ taste) / np.where(rows > 0, rows * norm, 1.0)
    return np.clip(cosine, 0.0, 1.0).astype(np.float32)


def top(scores: Scores, allowed: Mask, k: int) -> list[tuple[int, float]]:
    """The ``k`` best allowed positions with their scores, best first, ties by position."""
    masked = np.where(allowed, scores, -np.inf)
    count = int(np.count_nonzero(allowed))
    if count == 0:
        return []
    k = min(k, count)
    candidates = np.argpartition(-masked, k - 1)[:k]
    ordered = sorted(candidates.tolist(), key=lambda p: (-float(masked[p]), p))
    return [(p, round(float(np.clip(masked[p], 0.0, 1.0)), 4)) for p in ordered]
