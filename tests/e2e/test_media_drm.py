"""Signed manifests through the real origin, and Clear Key licenses that really decrypt."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from pymongo import MongoClient

from core import signing
from stack.local import LocalStack
from tests.e2e.helpers import (
    clear_key_challenge,
    decode_errors,
    register,
    start_movie_session,
)

pytestmark = pytest.mark.e2e


async def test_signed_manifest_segments_and_a_license_that_decrypts(
    stack: LocalStack, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    user = await register(client)
    session = await start_movie_session(client, user)
    async with httpx.AsyncClient(timeout=30) as media:
        mpd = await media.get(session["manifest"]["url"])
        assert mpd.status_code == 200, (mpd.text, session["manifest"]["url"])
        assert mpd.headers["content-type"].startswith("application/dash+xml")
        kid = re.search(r'cenc:default_KID="([0-9a-f-]+)"', mpd.text)
        assert kid is not None
        kid_hex = kid[1].replace("-", "")
        init_path = re.search(r'initialization="(v180/init\.mp4\?[^"]+)"', mpd.text)
        assert init_path is not None, "segment URLs carry the signature"
        base = session["manifest"]["url"].split("manifest.mpd")[0]
        init = await media.get(base + init_path[1].replace("&amp;", "&"))
        first = await media.get(
            base + init_path[1].replace("&amp;", "&").replace("init.mp4", "1.m4s")
        )
        assert init.status_code == first.status_code == 200 and len(first.content) > 1000

        # Tampered, expired, or used for another asset: 403 at the origin.
        url = session["manifest"]["url"]
        assert (
            await media.get(url[:-3] + ("000" if not url.endswith("000") else "111"))
        ).status_code == 403
        assert (
            await media.get(url.replace(f"/media/{session['asset_id']}/", "/media/a_other_m/"))
        ).status_code == 403
        key = signing.load_key(stack.data_dir / "keys" / "media.key")
        expired = signing.asset_url(
            key,
            "http://x",
            session["asset_id"],
            "manifest.mpd",
            session["session_id"],
            int(time.time()) - 1,
        )
        assert (
            await media.get(base + "manifest.mpd?" + expired.split("?", 1)[1])
        ).status_code == 403
        assert (await media.get(base + "manifest.mpd")).status_code == 403

    granted = await client.post(
        "/v1/drm/licenses",
        headers=user.auth,
        json={
            "session_id": session["session_id"],
            "challenge": clear_key_challenge(kid_hex),
            "license_token": session["drm"]["license_token"],
        },
    )
    assert granted.status_code == 200, granted.text
    jwks = msgspec.json.decode(base64.b64decode(granted.json()["license"]))
    (jwk,) = jwks["keys"]
    assert jwk["kty"] == "oct" and base64.urlsafe_b64decode(jwk["kid"] + "==").hex() == kid_hex
    key_hex = base64.urlsafe_b64decode(jwk["k"] + "==").hex()

    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:
        pool = mongo.streaming.media_pool.find_one({"_id": "pool"})
    finally:
        mongo.close()
    assert pool is not None
    packaged = next(c for c in pool["clips"] if c["key_id"] == kid_hex)
    assert packaged["key"] == key_hex  # the license carries exactly the packaging key

    segment = init.content + first.content
    assert decode_errors(key_hex, segment, tmp_path) == ""
    assert "error" in decode_errors("00" * 16, segment, tmp_path)  # a wrong key does not decode

    foreign = await client.post(
        "/v1/drm/licenses",
        headers=user.auth,
        json={"session_id": session["session_id"], "challenge": clear_key_challenge("ab" * 16)},
    )
    assert foreign.status_code == 403
    bad = await client.post(
        "/v1/drm/licenses",
        headers=user.auth,
        json={"session_id": session["session_id"], "challenge": "%%%"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"].startswith("challenge")
    other = await register(client)
    stolen = await client.post(
        "/v1/drm/licenses",
        headers=other.auth,
        json={"session_id": session["session_id"], "challenge": clear_key_challenge(kid_hex)},
    )
    assert stolen.status_code == 404
    await client.post(
        f"/v1/streaming/{session['title_id']}/stop",
        headers=user.auth,
        json={"session_id": session["session_id"]},
    )
    stopped = await client.post(
        "/v1/drm/licenses",
        headers=user.auth,
        json={"session_id": session["session_id"], "challenge": clear_key_challenge(kid_hex)},
    )
    assert stopped.status_code == 404 and stopped.json()["error"]["code"] == "SESSION_NOT_FOUND"


async def test_seed_a_manifest_route_and_hls(client: httpx.AsyncClient) -> None:
    user = await register(client)
    session = await start_movie_session(client, user)
    # Seed A shows the route with no parameters: signed for the account and the asset.
    bare = await client.get(f"/v1/streaming/{session['title_id']}/manifest", headers=user.auth)
    assert bare.status_code == 200, bare.text
    sessionless = bare.json()
    assert sessionless["session_id"] is None and sessionless["license_token"] is None
    assert sessionless["asset_id"] == session["asset_id"]
    assert parse_qs(urlsplit(sessionless["manifest_url"]).query)["sid"][0].startswith("ac_")
    async with httpx.AsyncClient(timeout=30) as media:
        dash = await media.get(sessionless["dash_manifest_url"])
        assert dash.status_code == 200 and "<MPD" in dash.text
    unknown = await client.get("/v1/streaming/t_nope/manifest", headers=user.auth)
    assert unknown.status_code == 404
    stranger = await register(client)
    foreign = await client.get(
        f"/v1/streaming/{session['title_id']}/manifest",
        headers=stranger.auth,
        params={"session_id": session["session_id"]},
    )
    assert foreign.status_code == 404  # another account's session
    body = (
        await client.get(
            f"/v1/streaming/{session['title_id']}/manifest",
            headers=user.auth,
            params={"session_id": session["session_id"]},
        )
    ).json()
    assert set(body) >= {
        "content_id",
        "manifest_url",
        "drm_license_url",
        "subtitles",
        "audio_tracks",
    }
    assert body["subtitles"][0]["language"] == "en-US" and body["audio_tracks"][0]["codec"] == "aac"
    async with httpx.AsyncClient(timeout=30) as media:
        master = await media.get(body["manifest_url"])
        assert master.status_code == 200 and "#EXTM3U" in master.text
        variants = [line for line in master.text.splitlines() if line and not line.startswith("#")]
        assert variants and all("sig=" in v for v in variants)
        base = body["manifest_url"].split("master.m3u8")[0]
        playlist = await media.get(base + variants[0])
        assert playlist.status_code == 200 and "sig=" in playlist.text
        # The manifest URL expires in 120 s, the URLs inside it outlive a long film.
        outer_exp = int(parse_qs(urlsplit(body["manifest_url"]).query)["exp"][0])
        inner_exp = int(parse_qs(urlsplit(variants[0]).query)["exp"][0])
        assert inner_exp >= outer_exp + 3600
        vtt = await media.get(body["subtitles"][0]["url"])
        assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    query = parse_qs(urlsplit(body["manifest_url"]).query)
    assert query["sid"] == [session["session_id"]]
