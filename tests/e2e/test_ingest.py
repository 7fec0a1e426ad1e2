"""The media supply chain over HTTP on the real stack: upload → encode on Ray → publish → play.

One generated 10 s clip with audio goes through seed A's multipart upload; another through a
resumable upload interrupted mid-way and seed B's attach. Both must come out with an ABR ladder
and a Clear Key of their own that decrypts their segments. Bad uploads change nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import psutil
import pytest
from pymongo import MongoClient

from core.config import Settings
from media.ingest.tools import binary
from media.store import PART_BYTES, PART_CONCURRENCY
from stack.local import LocalStack
from tests.e2e.helpers import User, clear_key_challenge, decode_errors, first_profile, register

pytestmark = pytest.mark.e2e

JOB_TIMEOUT_S = 300  # two rungs of 10 s on 2 shared cores take well under a minute
METADATA = {
    "title": "Ingest Test Feature",
    "description": "Made by the e2e suite",
    "genre": ["drama"],
    "rating": "PG",
    "release_year": 2026,
}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "source.mp4"
    subprocess.run(
        [
            binary("ffmpeg"),
            "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24:duration=10",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "48", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path.read_bytes()


async def _admin(client: httpx.AsyncClient) -> dict[str, str]:
    settings = Settings.from_env()
    login = await client.post(
        "/v1/auth/login", json={"email": settings.admin_email, "password": settings.admin_password}
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _store_files(stack: LocalStack, prefix: str) -> list[Path]:
    root = stack.data_dir / "store" / prefix
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def _upload(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    video: bytes,
    metadata: object = METADATA,
    **headers: str,
) -> httpx.Response:
    return await client.post(
        "/v1/admin/content",
        headers={**auth, **headers},
        files={
            "metadata": (None, json.dumps(metadata), "application/json"),
            "video_file": ("source.mp4", video, "video/mp4"),
        },
    )


async def _until_done(
    client: httpx.AsyncClient, auth: dict[str, str], content_id: str
) -> dict[str, Any]:
    """Poll the status; progress must never go back."""
    seen: list[int] = []
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        got = await client.get(f"/v1/admin/content/{content_id}/processing-status", headers=auth)
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        seen.append(body["progress"])
        assert seen == sorted(seen), f"progress went back: {seen}"
        if body["status"] in ("completed", "failed"):
            return body
        await asyncio.sleep(1)
    pytest.fail(f"job not finished in {JOB_TIMEOUT_S}s; progress {seen[-5:]}")


async def _play(
    client: httpx.AsyncClient, viewer: User, title_id: str, tmp: Path
) -> tuple[str, str]:
    """Start a session, check the ladder, decrypt a segment; returns (key id, key)."""
    profile = await first_profile(client, viewer)
    made = await client.post(
        "/v1/playback/sessions",
        headers=viewer.auth,
        json={
            "profile_id": profile,
            "title_id": title_id,
            "device": {"device_id": "e2e", "platform": "web"},
        },
    )
    assert made.status_code == 201, made.text
    session = made.json()
    async with httpx.AsyncClient(timeout=30) as media:
        mpd = await media.get(session["manifest"]["url"])
        assert mpd.status_code == 200, mpd.text
        heights = sorted(
            {
                int(h[1])
                for tag in re.findall(r"<Representation[^>]*>", mpd.text)
                if "avc1" in tag and (h := re.search(r'height="(\d+)"', tag))
            }
        )
        assert len(heights) >= 2 and max(heights) <= 360, heights  # a ladder, never upscaled
        kid = re.search(r'cenc:default_KID="([0-9a-f-]+)"', mpd.text)
        assert kid is not None
        kid_hex = kid[1].replace("-", "")
        init = re.search(r'initialization="([^"]*init\.mp4\?[^"]+)"', mpd.text)
        assert init is not None
        base = session["manifest"]["url"].split("manifest.mpd")[0]
        init_url = base + init[1].replace("&amp;", "&")
        segment_url = re.sub(r"init\.mp4\?", "1.m4s?", init_url)
        init_bytes = (await media.get(init_url)).content
        segment = await media.get(segment_url)
        assert segment.status_code == 200, segment_url
    granted = await client.post(
        "/v1/drm/licenses",
        headers=viewer.auth,
        json={
            "session_id": session["session_id"],
            "challenge": clear_key_challenge(kid_hex),
            "license_token": session["drm"]["license_token"],
        },
    )
    assert granted.status_code == 200, granted.text
    (jwk,) = msgspec.json.decode(base64.b64decode(granted.json()["license"]))["keys"]
    key_hex = base64.urlsafe_b64decode(jwk["k"] + "==").hex()
    assert decode_errors(key_hex, init_bytes + segment.content, tmp) == ""
    assert decode_errors("00" * 16, init_bytes + segment.content, tmp)  # the check is real
    await client.post(f"/v1/playback/sessions/{session['session_id']}/stop", headers=viewer.auth)
    return kid_hex, key_hex


async def test_upload_encode_publish_play_with_an_own_key(
    client: httpx.AsyncClient, stack: LocalStack, clip: bytes, tmp_path: Path
) -> None:
    admin = await _admin(client)
    viewer = await register(client, country="US")
    video = clip
    assert (await _upload(client, viewer.auth, video)).status_code == 403
    assert (await _upload(client, {}, video)).status_code == 401

    first = await _upload(client, admin, video, **{"Idempotency-Key": "e2e-upload-0001"})
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert set(accepted) >= {"content_id", "asset_id", "status_url"}
    again = await _upload(client, admin, video, **{"Idempotency-Key": "e2e-upload-0001"})
    assert again.status_code == 202 and again.json() == accepted  # the same job, not a second
    content_id = accepted["content_id"]

    # Not ready yet: publishing is refused, subscribers cannot see or play it.
    early = await client.post(
        f"/v1/admin/publish/{content_id}", headers=admin, json={"countries": ["US"]}
    )
    assert early.status_code == 409 and early.json()["error"]["code"] == "CONFLICT"

    status = await _until_done(client, admin, content_id)
    assert status["status"] == "completed", status
    assert status["progress"] == 100 and status["content_id"] == content_id
    assert status["stages"] == {
        "upload": "completed",
        "encoding": "completed",
        "thumbnail_generation": "completed",
        "cdn_distribution": "completed",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status["estimated_completion"])

    published = await client.post(
        f"/v1/admin/publish/{content_id}", headers=admin, json={"countries": ["US"]}
    )
    assert published.status_code == 200, published.text
    for _ in range(40):  # every replica's catalog follows within a few seconds
        page = await client.get(f"/v1/content/{content_id}", headers=viewer.auth)
        if page.status_code == 200:
            break
        await asyncio.sleep(0.5)
    assert page.status_code == 200, page.text
    assert 9 <= page.json()["duration_s"] <= 11  # from the probe, not the metadata
    kid_hex, _ = await _play(client, viewer, content_id, tmp_path)

    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:
        pool = mongo.streaming.media_pool.find_one({"_id": "pool"})
    finally:
        mongo.close()
    assert pool is not None and kid_hex not in {c["key_id"] for c in pool["clips"]}

    # The artwork the title points at is real and cacheable. (Each replica follows the catalog
    # on its own: the one answering this may see the publish a poll after the one above.)
    for polls in range(40):
        titled = await client.get(f"/v1/titles/{content_id}", headers=viewer.auth)
        if titled.status_code == 200:
            break
        print(f"title page not there yet ({polls}): {titled.status_code} {titled.text[:200]}")
        await asyncio.sleep(0.5)
    assert titled.status_code == 200, titled.text
    detail = titled.json()
    async with httpx.AsyncClient(timeout=30) as plain:
        for url in (detail["artwork"]["poster"], detail["artwork"]["background"]):
            image = await plain.get(url)
            assert image.status_code == 200, url
            assert image.headers["content-type"] == "image/jpeg"
            assert image.content[:2] == b"\xff\xd8" and "max-age" in image.headers["cache-control"]

    # Delete: the title, its job and every stored file go.
    assert _store_files(stack, f"assets/{accepted['asset_id']}/")
    gone = await client.delete(f"/v1/admin/content/{content_id}", headers=admin)
    assert gone.status_code == 204
    assert not _store_files(stack, f"assets/{accepted['asset_id']}/")
    missing = await client.get(f"/v1/admin/content/{content_id}/processing-status", headers=admin)
    assert missing.status_code == 404


async def test_bad_uploads_change_nothing(
    client: httpx.AsyncClient, stack: LocalStack, clip: bytes
) -> None:
    admin = await _admin(client)
    before = set(_store_files(stack, "uploads/"))
    for metadata, field in (
        ({**METADATA, "genre": ["nope"]}, "metadata.genre"),
        ({k: v for k, v in METADATA.items() if k != "title"}, "title"),
        ({**METADATA, "surprise": 1}, "surprise"),
    ):
        bad = await _upload(client, admin, clip, metadata)
        assert bad.status_code == 400, bad.text
        assert field in bad.json()["error"]["details"]
    no_video = await client.post(
        "/v1/admin/content", headers=admin, files={"metadata": (None, json.dumps(METADATA))}
    )
    assert no_video.status_code == 400 and "video_file" in no_video.json()["error"]["details"]
    not_multipart = await client.post("/v1/admin/content", headers=admin, json=METADATA)
    assert not_multipart.status_code == 400
    cap = int(stack.env()["INGEST_MAX_UPLOAD_BYTES"])
    too_big = await _raw_upload(client, admin, cap + 1024 * 1024)  # streamed, never whole
    assert too_big.status_code == 413, too_big.text
    assert set(_store_files(stack, "uploads/")) == before


async def test_corrupt_upload_fails_at_upload_stage_and_retry_reruns_it(
    client: httpx.AsyncClient,
) -> None:
    admin = await _admin(client)
    made = await _upload(client, admin, b"this is not a video" * 1000)
    assert made.status_code == 202, made.text
    content_id = made.json()["content_id"]
    failed = await _until_done(client, admin, content_id)
    assert failed["status"] == "failed"
    assert failed["error"]["stage"] == "upload" and failed["stages"]["upload"] == "failed"
    assert failed["error"]["code"] and failed["error"]["message"]
    refused = await client.post(
        f"/v1/admin/publish/{content_id}", headers=admin, json={"countries": ["US"]}
    )
    assert refused.status_code == 409
    retried = await client.post(f"/v1/admin/content/{content_id}/processing/retry", headers=admin)
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    again = await _until_done(client, admin, content_id)
    assert again["status"] == "failed" and again["attempts"]["upload"] >= 1
    not_failed = await client.post(
        f"/v1/admin/content/{content_id}/processing/retry", headers=admin
    )
    assert not_failed.status_code in (202, 409)


def _interrupted_patch(base_url: str, path: str, auth: str, offset: int, data: bytes) -> None:
    """Send a PATCH's headers and only part of its body, then drop the connection."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: {auth}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
            f"Content-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[: len(data) // 2])
        time.sleep(0.5)


async def test_resumable_upload_survives_a_dropped_connection_and_attaches(
    client: httpx.AsyncClient, stack: LocalStack, clip: bytes, tmp_path: Path
) -> None:
    admin = await _admin(client)
    video = clip
    created = await client.post(
        "/v1/admin/uploads",
        headers={**admin, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(video))},
    )
    assert created.status_code == 201, created.text
    upload_id = created.json()["upload_id"]
    path = urlsplit(created.headers["location"]).path
    half = len(video) // 2
    tus = {**admin, "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    first = await client.patch(path, headers={**tus, "Upload-Offset": "0"}, content=video[:half])
    assert first.status_code == 204 and first.headers["upload-offset"] == str(half)
    await asyncio.to_thread(
        _interrupted_patch, stack.base_url, path, admin["Authorization"], half, video[half:]
    )
    head = await client.head(path, headers={**admin, "Tus-Resumable": "1.0.0"})
    offset = int(head.headers["upload-offset"])
    assert offset == half  # the dropped request left nothing half-stored
    stale = await client.patch(path, headers={**tus, "Upload-Offset": "0"}, content=b"x")
    assert stale.status_code == 409
    rest = await client.patch(
        path, headers={**tus, "Upload-Offset": str(offset)}, content=video[offset:]
    )
    assert rest.status_code == 204 and rest.headers["upload-offset"] == str(len(video))
    stored = b"".join(p.read_bytes() for p in sorted(_store_files(stack, f"uploads/{upload_id}/")))
    assert stored == video

    shell = await client.post(
        "/v1/admin/titles",
        headers=admin,
        json={
            "name": "Resumed Upload",
            "type": "movie",
            "genres": ["drama"],
            "maturity_rating": "PG",
            "release_year": 2026,
        },
    )
    title_id = shell.json()["title_id"]
    bad = await client.post(
        "/v1/admin/assets",
        headers=admin,
        json={"title_id": title_id, "upload_id": upload_id, "season": 1, "episode": 1},
    )
    assert bad.status_code == 400 and "season" in bad.json()["error"]["details"]
    attached = await client.post(
        "/v1/admin/assets", headers=admin, json={"title_id": title_id, "upload_id": upload_id}
    )
    assert attached.status_code == 202, attached.text
    twice = await client.post(
        "/v1/admin/assets", headers=admin, json={"title_id": title_id, "upload_id": upload_id}
    )
    assert twice.status_code == 409
    done = await _until_done(client, admin, title_id)
    assert done["status"] == "completed", done
    assert (
        await client.post(
            f"/v1/admin/publish/{title_id}", headers=admin, json={"countries": ["US"]}
        )
    ).status_code == 200
    viewer = await register(client, country="US")
    for _ in range(40):
        if (await client.get(f"/v1/titles/{title_id}", headers=viewer.auth)).status_code == 200:
            break
        await asyncio.sleep(0.5)
    await _play(client, viewer, title_id, tmp_path)


def _ingress_rss() -> int:
    total = 0
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "ServeReplica:api:Ingress" in " ".join(proc.info["cmdline"] or []):
                total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


async def _raw_upload(
    client: httpx.AsyncClient, admin: dict[str, str], size: int
) -> httpx.Response:
    """``size`` bytes that are not a video through seed A's multipart route, streamed in 1 MiB
    pieces (the job it starts fails at the probe)."""
    chunk = b"\1" * (1024 * 1024)

    async def body() -> Any:
        yield (
            b'--B\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
            + json.dumps(METADATA).encode()
            + b'\r\n--B\r\nContent-Disposition: form-data; name="video_file"; filename="big.bin"'
            b"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        for _ in range(size // len(chunk)):
            yield chunk
        yield b"\r\n--B--\r\n"

    return await client.post(
        "/v1/admin/content",
        headers={**admin, "Content-Type": "multipart/form-data; boundary=B"},
        content=body(),
    )


async def test_a_big_upload_does_not_grow_replica_memory(
    client: httpx.AsyncClient, stack: LocalStack
) -> None:
    """300 MiB through the multipart route: a replica holds at most the store's in-flight
    window (PART_CONCURRENCY parts of PART_BYTES uploading and one filling, 40 MiB) and Serve's
    bounded receive queue (deployments/serve_backpressure.py), never the upload. Without that
    bound Serve's reader queued the body as fast as loopback delivered it: this upload grew the
    replicas by 80 to 250 MiB; with it, 13 to 45 MiB (the window plus malloc's arenas)."""
    admin = await _admin(client)
    warm_up = await _raw_upload(client, admin, 8 * 1024 * 1024)  # first-upload allocations
    assert warm_up.status_code == 202, warm_up.text
    size = 300 * 1024 * 1024
    before = _ingress_rss()
    made = await _raw_upload(client, admin, size)
    assert made.status_code == 202, made.text
    grown = _ingress_rss() - before
    window = PART_BYTES * (PART_CONCURRENCY + 1)
    bound = window + 32 * 1024 * 1024  # + the arenas' slack
    assert grown < bound, f"replicas grew by {grown / 2**20:.0f} MiB for a {size >> 20} MiB upload"
    # Its bytes are in the store whole; it is not a video, so the job fails at the probe.
    asset_id = made.json()["asset_id"]
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:
        job = mongo.streaming.ingest_jobs.find_one({"_id": asset_id})
    finally:
        mongo.close()
    assert job is not None and job["source_bytes"] == size
    for upload in (warm_up, made):
        await client.delete(f"/v1/admin/content/{upload.json()['content_id']}", headers=admin)


def _kill(marker: str) -> int:
    """SIGKILL every process whose command line names ``marker``; how many there were."""
    killed = 0
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if marker in " ".join(proc.info["cmdline"] or []):
                proc.kill()
                killed += 1
        except psutil.Error:
            continue
    return killed


async def test_a_killed_coordinator_and_encode_worker_do_not_lose_the_job(
    client: httpx.AsyncClient, clip: bytes, tmp_path: Path
) -> None:
    admin = await _admin(client)
    made = await _upload(client, admin, clip)
    assert made.status_code == 202, made.text
    content_id = made.json()["content_id"]
    killed_worker = killed_coordinator = 0
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline and not (killed_worker and killed_coordinator):
        body = (
            await client.get(f"/v1/admin/content/{content_id}/processing-status", headers=admin)
        ).json()
        assert body["status"] != "failed", body
        if body["stages"]["encoding"] == "in_progress":
            killed_worker = killed_worker or _kill("ray::encode_chunk")
            killed_coordinator = killed_coordinator or _kill("ray::IngestCoordinator")
        if body["status"] == "completed":
            break
        await asyncio.sleep(0.1)
    assert killed_coordinator, "the coordinator was never seen mid-encode"
    done = await _until_done(client, admin, content_id)
    assert done["status"] == "completed", done
    assert done["attempts"]["encoding"] >= 2  # the stage really ran again
    published = await client.post(
        f"/v1/admin/publish/{content_id}", headers=admin, json={"countries": ["US"]}
    )
    assert published.status_code == 200
    viewer = await register(client, country="US")
    for _ in range(40):
        if (await client.get(f"/v1/titles/{content_id}", headers=viewer.auth)).status_code == 200:
            break
        await asyncio.sleep(0.5)
    await _play(client, viewer, content_id, tmp_path)  # what completed is whole and decrypts
