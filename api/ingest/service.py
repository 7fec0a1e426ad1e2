"""The media supply chain's verbs: take an upload, attach it, report on it, retry, delete.

The ingress only receives bytes and writes documents; the coordinator actor does the work
(:mod:`actors.ingest`), woken through ``Deps.wake_ingest``. Every write here is either
conditional (race-free) or undone on failure, so bad input changes nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import msgspec
from pymongo.errors import DuplicateKeyError

from api.catalog.models import Title
from api.catalog.store import announce_changes
from api.catalog.titles import check_genres, new_title
from api.deps import Deps
from api.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from api.ingest import multipart
from api.ingest.models import Accepted, AttachAsset, ContentMetadata, Upload, UploadCreated
from api.wire import decode, iso, utc_now
from core.storage import to_document
from media import jobs as records
from media.ingest.publish import delete_asset
from media.ingest.uploads import upload_prefix
from media.jobs import Job, ProcessingStatus
from media.store import TooLarge

CLAIM_WAIT_S = 0.5  # a retried upload whose first attempt is still arriving: how often to look


def _status_url(deps: Deps, content_id: str) -> str:
    return f"{deps.settings.public_base_url}/v1/admin/content/{content_id}/processing-status"


async def _wake(deps: Deps) -> None:
    if deps.wake_ingest is not None:
        await deps.wake_ingest()


def _new_job(
    *, asset_id: str, title_id: str, source_keys: list[str], size: int, **placement: object
) -> Job:
    now = utc_now()
    return msgspec.convert(
        {
            "_id": asset_id,
            "title_id": title_id,
            "source_keys": source_keys,
            "source_bytes": size,
            "key_id": secrets.token_hex(16),  # a fresh Clear Key for every asset
            "key": secrets.token_hex(16),
            "created_at": now,
            "updated_at": now,
            **placement,
        },
        Job,
    )


# -- seed A: one multipart request -----------------------------------------------------------


async def create_content(
    deps: Deps,
    *,
    body: AsyncIterator[bytes],
    content_type: str,
    idempotency_key: str | None,
) -> Accepted:
    """Store the video as it arrives, then create the title shell, its asset and the job."""
    if idempotency_key is not None:
        replay = await _claim(deps, idempotency_key)
        if replay is not None:
            return replay
    upload_id = f"up_{secrets.token_hex(8)}"
    key = f"{upload_prefix(upload_id)}part-{0:016d}"
    try:
        received = await multipart.receive(
            body,
            content_type,
            store=deps.store,
            key=key,
            max_bytes=deps.settings.ingest.max_upload_bytes,
        )
        meta = decode(received.metadata, ContentMetadata)
        check_genres(meta.genre, "metadata.genre")
    except BaseException:
        await deps.store.delete_prefix(upload_prefix(upload_id))
        if idempotency_key is not None:
            await deps.db.ingest_claims.delete_one({"_id": idempotency_key})
        raise
    title = new_title(
        deps.settings.public_base_url,
        type=meta.type,
        name=meta.title,
        synopsis=meta.description,
        genres=meta.genre,
        maturity_rating=meta.rating,
        cast=meta.cast,
        director=meta.director,
        release_year=meta.release_year,
        languages=meta.languages,
        duration_s=1,  # the probe sets the real one
    )
    asset_id = f"a_{secrets.token_hex(8)}"
    now = int(time.time())
    upload = Upload(
        id=upload_id,
        length=received.size,
        offset=received.size,
        parts=[key],
        attached_to=asset_id,
        filename=received.filename,
        created_at=now,
        updated_at=now,
    )
    kind = "episode" if title.type == "series" else "main"
    job = _new_job(
        asset_id=asset_id,
        title_id=title.id,
        source_keys=[key],
        size=received.size,
        kind=kind,
        **({"season": 1, "episode": 1} if kind == "episode" else {}),
        idempotency_key=idempotency_key,
    )
    await deps.db.uploads.insert_one(to_document(upload))
    await deps.db.titles.insert_one(to_document(title))
    await deps.db.ingest_jobs.insert_one(to_document(job))
    await announce_changes(deps.redis, [title.id])
    accepted = Accepted(
        content_id=title.id, asset_id=asset_id, status_url=_status_url(deps, title.id)
    )
    if idempotency_key is not None:
        await deps.db.ingest_claims.update_one(
            {"_id": idempotency_key}, {"$set": {"result": msgspec.to_builtins(accepted)}}
        )
    await _wake(deps)
    return accepted


async def _claim(deps: Deps, idempotency_key: str) -> Accepted | None:
    """First use of the key: claim it (None). A retry: the first request's answer."""
    try:
        await deps.db.ingest_claims.insert_one(
            {"_id": idempotency_key, "created_at": utc_now(), "result": None}
        )
        return None
    except DuplicateKeyError:
        pass
    for _ in range(int(30 / CLAIM_WAIT_S)):
        doc = await deps.db.ingest_claims.find_one({"_id": idempotency_key})
        if doc is None:  # the first attempt failed and released the key: this one goes ahead
            return await _claim(deps, idempotency_key)
        if doc.get("result") is not None:
            return msgspec.convert(doc["result"], Accepted)
        await asyncio.sleep(CLAIM_WAIT_S)
    raise Conflict(
        "An upload with this Idempotency-Key is still arriving", details="Idempotency-Key"
    )


# -- resumable uploads (tus 1.0 core) ---------------------------------------------------------


async def create_upload(deps: Deps, *, length: int, filename: str) -> UploadCreated:
    cap = deps.settings.ingest.max_upload_bytes
    if length > cap:
        raise PayloadTooLarge(
            f"Uploads are limited to {cap} bytes", details=f"Upload-Length: more than {cap}"
        )
    now = int(time.time())
    upload = Upload(
        id=f"up_{secrets.token_hex(8)}",
        length=length,
        filename=filename,
        created_at=now,
        updated_at=now,
    )
    await deps.db.uploads.insert_one(to_document(upload))
    return UploadCreated(
        upload_id=upload.id,
        upload_url=f"{deps.settings.public_base_url}/v1/admin/uploads/{upload.id}",
        offset=0,
        length=length,
        expires_at=iso(utc_now() + timedelta(seconds=deps.settings.ingest.upload_ttl_s)),
    )


async def get_upload(deps: Deps, upload_id: str) -> Upload:
    doc = await deps.db.uploads.find_one({"_id": upload_id})
    if doc is None:
        raise NotFound("Upload not found")
    return msgspec.convert(doc, Upload)


async def append(deps: Deps, *, upload_id: str, offset: int, body: AsyncIterator[bytes]) -> Upload:
    """tus PATCH: the bytes at ``offset`` become the next part. Only one writer wins an offset."""
    upload = await get_upload(deps, upload_id)
    if offset != upload.offset:
        raise Conflict(
            f"The upload is at offset {upload.offset}",
            details=f"Upload-Offset: expected {upload.offset}",
        )
    if upload.offset >= upload.length:
        raise Conflict("The upload is already complete", details="Upload-Offset: complete")
    key = f"{upload_prefix(upload_id)}part-{offset:016d}"
    try:
        size = await deps.store.put_stream(key, body, max_bytes=upload.length - offset)
    except TooLarge:
        raise PayloadTooLarge(
            "More bytes than Upload-Length", details="body: beyond Upload-Length"
        ) from None
    if size == 0:
        await deps.store.delete_prefix(key)
        return upload
    now = int(time.time())
    done = await deps.db.uploads.find_one_and_update(
        {"_id": upload_id, "offset": offset},
        {"$set": {"offset": offset + size, "updated_at": now}, "$push": {"parts": key}},
        return_document=True,
    )
    if done is None:  # another PATCH at the same offset won
        await deps.store.delete_prefix(key)
        raise Conflict("Another request wrote at this offset", details="Upload-Offset")
    return msgspec.convert(done, Upload)


async def terminate(deps: Deps, upload_id: str) -> None:
    upload = await get_upload(deps, upload_id)
    if upload.attached_to is not None:
        raise Conflict("The upload is attached to an asset", details="upload_id: attached")
    await deps.db.uploads.delete_one({"_id": upload_id})
    await deps.store.delete_prefix(upload_prefix(upload_id))


# -- seed B: attach an upload to a title ------------------------------------------------------


async def attach(deps: Deps, body: AttachAsset) -> Accepted:
    doc = await deps.db.titles.find_one({"_id": body.title_id})
    if doc is None:
        raise NotFound("Title not found", details="title_id")
    title = msgspec.convert(doc, Title)
    numbered = body.season is not None or body.episode is not None
    if title.type == "series" and (body.season is None or body.episode is None):
        raise InvalidRequest(
            "A series episode needs season and episode", details="season: required for a series"
        )
    if title.type != "series" and numbered:
        raise InvalidRequest(
            "Only a series has seasons and episodes", details="season: not for a movie"
        )
    upload = await get_upload(deps, body.upload_id)
    if upload.offset < upload.length:
        raise Conflict(
            f"The upload has {upload.offset} of {upload.length} bytes",
            details="upload_id: incomplete",
        )
    asset_id = f"a_{secrets.token_hex(8)}"
    claimed = await deps.db.uploads.update_one(
        {"_id": upload.id, "attached_to": None}, {"$set": {"attached_to": asset_id}}
    )
    if claimed.modified_count == 0:
        raise Conflict("The upload is already attached", details="upload_id: attached")
    job = _new_job(
        asset_id=asset_id,
        title_id=title.id,
        source_keys=upload.parts,
        size=upload.length,
        kind="episode" if numbered else "main",
        season=body.season,
        episode=body.episode,
    )
    await deps.db.ingest_jobs.insert_one(to_document(job))
    await _wake(deps)
    return Accepted(content_id=title.id, asset_id=asset_id, status_url=_status_url(deps, title.id))


# -- status, retry, delete --------------------------------------------------------------------


async def _job_for(deps: Deps, content_id: str) -> Job:
    """A title id (its newest job) or an asset id (that job)."""
    doc = await deps.db.ingest_jobs.find_one({"_id": content_id})
    if doc is None:
        doc = await deps.db.ingest_jobs.find_one(
            {"title_id": content_id}, sort=[("created_at", -1)]
        )
    if doc is None:
        raise NotFound("No processing job for this content")
    return msgspec.convert(doc, Job)


async def status(deps: Deps, content_id: str) -> ProcessingStatus:
    job = await _job_for(deps, content_id)
    measured = await deps.redis.get(records.SPEED_KEY)
    eta = (
        job.completed_at
        if job.status == "completed"
        else records.estimated_completion(
            job, speed=float(measured) if measured else None, now=utc_now()
        )
    )
    return ProcessingStatus(
        content_id=job.title_id,
        asset_id=job.id,
        status=job.status,
        progress=job.progress,
        stages={stage: job.stages.get(stage, "pending") for stage in records.STAGES},
        estimated_completion=iso(eta) if eta is not None else None,
        error=job.error,
        attempts=job.attempts,
    )


async def retry(deps: Deps, content_id: str) -> ProcessingStatus:
    """Re-run a failed job from the stage that failed (earlier stages stay done)."""
    job = await _job_for(deps, content_id)
    if job.status != "failed" or job.error is None:
        raise Conflict(f"The job is {job.status}; only a failed job is retried", details="status")
    stage = job.error.stage
    reset = await deps.db.ingest_jobs.update_one(
        {"_id": job.id, "status": "failed"},
        {
            "$set": {
                "status": "queued",
                "error": None,
                f"stages.{stage}": "pending",
                f"attempts.{stage}": 0,
                "updated_at": utc_now(),
            },
        },
    )
    if reset.modified_count == 0:
        raise Conflict("The job changed meanwhile", details="status")
    # The answer describes what the retry did (queued), read before the coordinator is woken:
    # read after, it was sometimes already "processing" (CI saw it once).
    queued = await status(deps, job.id)
    await _wake(deps)
    return queued


async def delete_media(deps: Deps, title_id: str) -> None:
    """Everything ingest made for a title: jobs (a running one stops), uploads, stored media."""
    assets = [
        doc["_id"]
        async for doc in deps.db.ingest_jobs.find({"title_id": title_id}, projection={"_id": 1})
    ]
    await deps.db.ingest_jobs.delete_many({"title_id": title_id})
    for asset_id in assets:
        async for upload in deps.db.uploads.find({"attached_to": asset_id}, projection={"_id": 1}):
            await deps.store.delete_prefix(upload_prefix(upload["_id"]))
        await deps.db.uploads.delete_many({"attached_to": asset_id})
        await delete_asset(deps.store, asset_id)
    await _wake(deps)
