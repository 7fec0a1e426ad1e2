"""The raw W3C Clear Key form of ``POST /v1/drm/licenses``: what a browser's CDM sends and takes.

The body is the license request itself (``{"kids": [...], "type": "temporary"}``), the session's
``license_token`` rides in ``X-License-Token`` and the session id in the query; the answer is
the JWK set itself. Same checks and refusals as the wrapped form.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import msgspec
import pytest

from tests.e2e.helpers import User, register, start_movie_session

pytestmark = pytest.mark.e2e


async def _kid_hex(session: dict[str, Any]) -> str:
    async with httpx.AsyncClient(timeout=30) as media:
        mpd = await media.get(session["manifest"]["url"])
    assert mpd.status_code == 200, mpd.text
    kid = re.search(r'cenc:default_KID="([0-9a-f-]+)"', mpd.text)
    assert kid is not None
    return kid[1].replace("-", "")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_request(kid_hex: str) -> bytes:
    return msgspec.json.encode({"kids": [_b64url(bytes.fromhex(kid_hex))], "type": "temporary"})


async def _raw_license(
    client: httpx.AsyncClient, user: User, session: dict[str, Any], body: bytes
) -> httpx.Response:
    return await client.post(
        "/v1/drm/licenses",
        params={"session_id": session["session_id"]},
        headers={**user.auth, "X-License-Token": session["drm"]["license_token"]},
        content=body,
    )


async def test_raw_clear_key_grant_and_refusals(client: httpx.AsyncClient) -> None:
    user = await register(client)
    session = await start_movie_session(client, user, "browser-raw")
    kid_hex = await _kid_hex(session)

    granted = await _raw_license(client, user, session, _raw_request(kid_hex))
    assert granted.status_code == 200, granted.text
    assert granted.headers["content-type"].startswith("application/json")
    jwks = granted.json()
    assert set(jwks) == {"keys", "type"} and jwks["type"] == "temporary"
    (jwk,) = jwks["keys"]
    assert jwk["kty"] == "oct" and "=" not in jwk["kid"] + jwk["k"]  # b64url, no padding
    assert base64.urlsafe_b64decode(jwk["kid"] + "==").hex() == kid_hex
    assert len(base64.urlsafe_b64decode(jwk["k"] + "==")) == 16

    # The same key as the wrapped form hands out.
    wrapped = await client.post(
        "/v1/drm/licenses",
        headers=user.auth,
        json={
            "session_id": session["session_id"],
            "challenge": base64.b64encode(_raw_request(kid_hex)).decode(),
            "license_token": session["drm"]["license_token"],
        },
    )
    assert wrapped.status_code == 200, wrapped.text
    assert msgspec.json.decode(base64.b64decode(wrapped.json()["license"])) == jwks

    # A key id of other content: 403, in the error envelope.
    foreign = await _raw_license(client, user, session, _raw_request("ab" * 16))
    assert foreign.status_code == 403, foreign.text
    assert foreign.json()["error"]["code"] == "FORBIDDEN"
    assert foreign.json()["error"]["details"] == "body: kids"

    # Not a Clear Key request: 400 naming the body.
    bad = await _raw_license(client, user, session, b'{"challenge": "x"}')
    assert bad.status_code == 400 and bad.json()["error"]["details"].startswith("body")

    # Another session's (or a made-up) license token: 403.
    forged = await client.post(
        "/v1/drm/licenses",
        params={"session_id": session["session_id"]},
        headers={**user.auth, "X-License-Token": "lt_" + "0" * 40},
        content=_raw_request(kid_hex),
    )
    assert forged.status_code == 403 and forged.json()["error"]["details"] == "license_token"

    # Bearer auth stays: none → 401; another account → the session is not theirs (404).
    anonymous = await client.post(
        "/v1/drm/licenses",
        params={"session_id": session["session_id"]},
        headers={"X-License-Token": session["drm"]["license_token"]},
        content=_raw_request(kid_hex),
    )
    assert anonymous.status_code == 401
    other = await register(client)
    stolen = await _raw_license(client, other, session, _raw_request(kid_hex))
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "SESSION_NOT_FOUND"


async def test_raw_clear_key_refused_once_the_session_stopped(client: httpx.AsyncClient) -> None:
    user = await register(client)
    session = await start_movie_session(client, user, "browser-raw")
    kid_hex = await _kid_hex(session)
    assert (await _raw_license(client, user, session, _raw_request(kid_hex))).status_code == 200
    stop = await client.post(
        f"/v1/streaming/{session['title_id']}/stop",
        headers=user.auth,
        json={"session_id": session["session_id"]},
    )
    assert stop.status_code == 200, stop.text
    stopped = await _raw_license(client, user, session, _raw_request(kid_hex))
    assert stopped.status_code == 404, stopped.text
    assert stopped.json()["error"]["code"] == "SESSION_NOT_FOUND"
    assert "request_id" in stopped.json()


async def test_the_media_origin_lets_the_web_player_read_media(client: httpx.AsyncClient) -> None:
    """The page is on the API's origin, media on another: CORS on answers and on refusals."""
    user = await register(client)
    session = await start_movie_session(client, user, "browser-raw")
    url = session["manifest"]["url"]
    page_origin = str(client.base_url).rstrip("/")
    async with httpx.AsyncClient(timeout=30) as media:
        mpd = await media.get(url, headers={"Origin": page_origin})
        assert mpd.status_code == 200 and mpd.headers["access-control-allow-origin"] == "*"
        refused = await media.get(url.split("?")[0], headers={"Origin": page_origin})
        assert refused.status_code == 403 and refused.headers["access-control-allow-origin"] == "*"
        preflight = await media.request(
            "OPTIONS",
            url,
            headers={
                "Origin": page_origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "range",
            },
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "range" in preflight.headers["access-control-allow-headers"].lower()
