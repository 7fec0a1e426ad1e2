"""Publishing: an asset is visible only through its pointer object.

``assets/{asset_id}/current.json`` names the version prefix the origin serves. Writing that one
small object is atomic, so a viewer sees all of a version or none of it; everything else (new
version's files, removal of old ones) happens before or after, never in place.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from media.ingest import manifests, packaging
from media.ingest.spec import work_prefix
from media.store import MediaStore

POINTER_NAME = "current.json"


class Pointer(msgspec.Struct, kw_only=True):
    prefix: str  # e.g. "assets/{asset_id}/{version}/"
    published_at: str  # ISO 8601, UTC


def asset_prefix(asset_id: str) -> str:
    return f"assets/{asset_id}/"


def pointer_key(asset_id: str) -> str:
    return asset_prefix(asset_id) + POINTER_NAME


async def referenced_files(store: MediaStore, prefix: str) -> set[str]:
    """Every file the asset's DASH and HLS manifests need, as keys (manifests included)."""
    mpd = (await store.get(prefix + packaging.MPD_NAME)).decode()
    master = (await store.get(prefix + packaging.HLS_MASTER_NAME)).decode()
    playlists = {name: (await store.get(prefix + name)).decode() for name in _hls(master)}
    files = manifests.dash_references(mpd)
    files |= manifests.hls_references(
        {packaging.HLS_MASTER_NAME: master, **playlists}, packaging.HLS_MASTER_NAME
    )
    files |= {packaging.MPD_NAME, packaging.HLS_MASTER_NAME}
    return {prefix + name for name in files}


def _hls(master: str) -> list[str]:
    return manifests.hls_playlists(master)


async def missing_files(store: MediaStore, prefix: str) -> list[str]:
    """Referenced keys absent from the store (one listing, not a request per segment)."""
    present = set(await store.list(prefix))
    return sorted((await referenced_files(store, prefix)) - present)


async def write_pointer(store: MediaStore, asset_id: str, prefix: str) -> Pointer:
    pointer = Pointer(prefix=prefix, published_at=datetime.now(UTC).isoformat())
    await store.put(pointer_key(asset_id), msgspec.json.encode(pointer))
    return pointer


async def read_pointer(store: MediaStore, asset_id: str) -> Pointer | None:
    try:
        raw = await store.get(pointer_key(asset_id))
    except FileNotFoundError:
        return None
    return decode_pointer(raw)


def decode_pointer(raw: bytes) -> Pointer:
    return msgspec.json.decode(raw, type=Pointer)


async def prune_versions(store: MediaStore, asset_id: str, keep_prefix: str) -> int:
    """Delete every object of the asset outside ``keep_prefix`` and the pointer."""
    pointer = pointer_key(asset_id)
    stale = [
        key
        for key in await store.list(asset_prefix(asset_id))
        if key != pointer and not key.startswith(keep_prefix)
    ]
    prefixes = sorted({_version_prefix(asset_id, key) for key in stale})
    removed = 0
    for prefix in prefixes:
        removed += await store.delete_prefix(prefix)
    return removed


def _version_prefix(asset_id: str, key: str) -> str:
    version, _, _ = key.removeprefix(asset_prefix(asset_id)).partition("/")
    return f"{asset_prefix(asset_id)}{version}/"


def version_prefix(asset_id: str, version: int) -> str:
    """Where one run of an asset's job writes its packaged output (``assets/{id}/v{n}/``)."""
    return f"{asset_prefix(asset_id)}v{version}/"


async def delete_asset(store: MediaStore, asset_id: str) -> None:
    """Remove everything of the asset: the pointer first (the origin stops serving it at once),
    then every version and any scratch left by an unfinished job."""
    await store.delete(pointer_key(asset_id))
    await store.delete_prefix(asset_prefix(asset_id))
    await store.delete_prefix(work_prefix(asset_id))
