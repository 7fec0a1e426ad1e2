"""Small client-side helpers shared by the end-to-end tests."""

from __future__ import annotations

import base64
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from media.ingest.tools import binary


@dataclass
class User:
    email: str
    password: str
    access_token: str
    refresh_token: str
    account_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def new_email() -> str:
    return f"e2e-{secrets.token_hex(6)}@example.com"


async def register(client: httpx.AsyncClient, plan: str = "standard", country: str = "US") -> User:
    email, password = new_email(), "correct-horse-battery"
    response = await client.post(
        "/v1/auth/register",
        json={"email": email, "password": password, "plan": plan, "country": country},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return User(email, password, body["access_token"], body["refresh_token"], body["user"]["id"])


async def first_profile(client: httpx.AsyncClient, user: User) -> str:
    """The profile created with the account."""
    profiles = (await client.get("/v1/users/profiles", headers=user.auth)).json()["profiles"]
    return str(profiles[0]["id"])


async def first_title(client: httpx.AsyncClient, user: User, **query: str | int) -> dict[str, Any]:
    """The most popular title the user may see that matches the browse filters."""
    params: dict[str, str | int] = {"limit": 1, **query}
    body = (await client.get("/v1/content/browse", headers=user.auth, params=params)).json()
    return body["content"][0]  # type: ignore[no-any-return]


async def start_movie_session(
    client: httpx.AsyncClient, user: User, device_id: str = "browser"
) -> dict[str, Any]:
    """A seed B playback session of the first movie, on the user's first profile."""
    profile = await first_profile(client, user)
    movie = await first_title(client, user, type="movie")
    made = await client.post(
        "/v1/playback/sessions",
        headers=user.auth,
        json={
            "profile_id": profile,
            "title_id": movie["id"],
            "device": {"device_id": device_id, "platform": "web"},
        },
    )
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def clear_key_challenge(kid_hex: str, kind: str = "temporary") -> str:
    """Base64 of a W3C Clear Key license request for one key id, as a player sends it."""
    kid = base64.urlsafe_b64encode(bytes.fromhex(kid_hex)).rstrip(b"=").decode()
    return base64.b64encode(msgspec.json.encode({"kids": [kid], "type": kind})).decode()


def decode_errors(key_hex: str, media: bytes, tmp: Path) -> str:
    """ffmpeg's complaints decoding ``media`` (init + segment) with ``key_hex``: "" decrypts."""
    sample = tmp / f"sample-{secrets.token_hex(4)}.mp4"
    sample.write_bytes(media)
    done = subprocess.run(
        [
            binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error",
            "-decryption_key", key_hex, "-i", str(sample), "-f", "null", "-",
        ],
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return done.stderr.decode() if done.returncode == 0 else done.stderr.decode() or "failed"
