from __future__ import annotations

import base64
from pathlib import Path

import jwt

from api.auth.keys import ALGORITHM, KeyRing, write_new_key


def test_generated_key_persists_and_publishes_with_kid(tmp_path: Path) -> None:
    ring = KeyRing.load(tmp_path, generate=True)
    again = KeyRing.load(tmp_path)
    assert again.active.kid == ring.active.kid
    (jwk,) = ring.jwks()["keys"]
    assert jwk["kid"] == ring.active.kid and jwk["crv"] == "Ed25519"
    assert len(base64.urlsafe_b64decode(jwk["x"] + "==")) == 32
    assert (tmp_path / f"{ring.active.kid}.pem").stat().st_mode & 0o777 == 0o600


def test_a_verifier_with_only_the_jwks_checks_a_token(tmp_path: Path) -> None:
    ring = KeyRing.load(tmp_path, generate=True)
    token = jwt.encode(
        {"sub": "x"}, ring.active.private, ALGORITHM, headers={"kid": ring.active.kid}
    )
    public = jwt.PyJWK(ring.jwks()["keys"][0])
    assert jwt.decode(token, public, algorithms=[ALGORITHM])["sub"] == "x"


def test_newest_key_signs_and_old_keys_still_verify(tmp_path: Path) -> None:
    first = KeyRing.load(tmp_path, generate=True).active.kid
    write_new_key(tmp_path)
    ring = KeyRing.load(tmp_path)
    assert ring.active.kid != first and ring.get(first) is not None
    assert len(ring.jwks()["keys"]) == 2
