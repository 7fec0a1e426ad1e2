"""Ed25519 signing keys with ``kid``s, loaded from a directory, published as a JWKS.

Every ``*.pem`` private key in the directory verifies; the newest (or ``JWT_ACTIVE_KID``) signs.
Rotation is therefore: drop a new key in, wait one access-token lifetime, remove the old one.
For development an empty directory gets a freshly generated key, persisted with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint of the public JWK: stable, and derivable by any verifier."""
    canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{_b64url(_raw_public(public))}"}}'
    return _b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def jwk(self) -> dict[str, str]:
        x = _b64url(_raw_public(self.public))
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


class KeyRing:
    def __init__(self, keys: list[SigningKey], active_kid: str | None = None) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._by_kid = {key.kid: key for key in keys}
        self.active = self._by_kid[active_kid] if active_kid else keys[-1]

    def get(self, kid: str) -> SigningKey | None:
        return self._by_kid.get(kid)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk() for key in self._by_kid.values()]}

    @classmethod
    def load(cls, directory: Path, *, generate: bool = False) -> KeyRing:
        """Load every key in ``directory`` (oldest first); generate one there if asked and empty."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = sorted(directory.glob("*.pem"), key=lambda p: p.stat().st_mtime)
        if not paths and generate:
            paths = [write_new_key(directory)]
        keys = []
        for path in paths:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            keys.append(SigningKey(key_id(private.public_key()), private))
        if not keys:
            raise FileNotFoundError(f"no signing keys (*.pem) in {directory}")
        return cls(keys, os.environ.get("JWT_ACTIVE_KID") or None)


def write_new_key(directory: Path) -> Path:
    private = Ed25519PrivateKey.generate()
    path = directory / f"{key_id(private.public_key())}.pem"
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path
