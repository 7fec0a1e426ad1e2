"""The catalog side of a finished job: the asset becomes playable as its title's media.

A title refers only to assets whose media is complete in the store: a movie's ``asset_id`` is
set, or an episode is added to its season, when the job completes, never before. Publishing
checks exactly that (409 while a title has none), so a failed or half-encoded upload is never
visible to subscribers.
"""

from __future__ import annotations

import msgspec
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from api.catalog.models import Asset, Episode, Season, Title
from api.catalog.store import announce_changes
from api.wire import utc_now
from core.storage import Document, to_document
from media.jobs import Job


async def link_ready_asset(db: AsyncDatabase[Document], redis: Redis, job: Job) -> None:
    assert job.source is not None
    duration_s = max(1, round(job.source.duration_s))
    doc = await db.titles.find_one({"_id": job.title_id})
    if doc is None:
        return  # deleted meanwhile: the coordinator notices the job is gone too
    title = msgspec.convert(doc, Title)
    asset = Asset(
        id=job.id,
        title_id=title.id,
        season=job.season,
        episode=job.episode,
        duration_ms=int(job.source.duration_s * 1000),
    )
    await db.assets.replace_one({"_id": asset.id}, to_document(asset), upsert=True)
    changes: dict[str, object]
    if job.kind == "main":
        changes = {"asset_id": job.id, "duration_s": duration_s}
    else:
        assert job.season is not None and job.episode is not None
        seasons = _with_episode(
            title.seasons,
            job.season,
            Episode(
                episode=job.episode,
                asset_id=job.id,
                name=f"Episode {job.episode}",
                synopsis="",
                duration_s=duration_s,
            ),
        )
        changes = {"seasons": msgspec.to_builtins(seasons), "duration_s": duration_s}
    await db.titles.update_one({"_id": title.id}, {"$set": {**changes, "updated_at": utc_now()}})
    await announce_changes(redis, [title.id])


def _with_episode(seasons: list[Season], number: int, episode: Episode) -> list[Season]:
    """``seasons`` with ``episode`` added to season ``number`` (replacing a same-numbered one)."""
    out = [s for s in seasons if s.season != number]
    current = next((s for s in seasons if s.season == number), Season(season=number, episodes=[]))
    episodes = [e for e in current.episodes if e.episode != episode.episode] + [episode]
    out.append(Season(season=number, episodes=sorted(episodes, key=lambda e: e.episode)))
    return sorted(out, key=lambda s: s.season)
