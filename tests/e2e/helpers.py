"""Small client-side helpers shared by the end-to-end tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx


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
