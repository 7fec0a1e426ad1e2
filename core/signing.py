"""Signed media URLs: HMAC-SHA256 over path, expiry and session, checked by the media origin.

The signed path is the asset's directory (``/media/<asset>/``): the origin appends the same
query to every URL inside the manifests it serves, so segments need no signature of their own.

The key comes from ``MEDIA_SIGNING_KEY_FILE`` (generated and persisted for development). The
origin recomputes the signature; a changed path, a later expiry or another session fail it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import urlencode


def load_key(path: Path) -> bytes:
    """Read the signing key, creating a random one (mode 0600) the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race: use its key
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def signature(key: bytes, path: str, expires: int, session_id: str) -> str:
    message = f"{path}\n{expires}\n{session_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_query(key: bytes, path: str, expires: int, session_id: str) -> str:
    return urlencode(
        {"exp": expires, "sid": session_id, "sig": signature(key, path, expires, session_id)}
    )


def verify(key: bytes, path: str, expires: int, session_id: str, sig: str, now: int) -> bool:
    return now < expires and hmac.compare_digest(signature(key, path, expires, session_id), sig)


def asset_prefix(asset_id: str) -> str:
    """One signature covers an asset's directory: the manifest and every segment under it."""
    return f"/media/{asset_id}/"


def asset_url(
    key: bytes, base_url: str, asset_id: str, file: str, session_id: str, expires: int
) -> str:
    query = signed_query(key, asset_prefix(asset_id), expires, session_id)
    return f"{base_url}{asset_prefix(asset_id)}{file}?{query}"


def license_token(key: bytes, session_id: str, account_id: str) -> str:
    """Binds a license request to the session it was issued with."""
    mac = hmac.new(key, f"license\n{session_id}\n{account_id}".encode(), hashlib.sha256)
    return "lt_" + mac.hexdigest()[:40]


ACCOUNT_PREFIX = "ac_"


def account_subject(account_id: str) -> str:
    """What a manifest fetched without a session is signed for: the account (``sid``)."""
    return f"{ACCOUNT_PREFIX}{account_id}"


DOWNLOAD_PREFIX = "dl_"


def is_download(session_id: str) -> bool:
    """A signature whose session is a download (offline manifests are served only under one)."""
    return session_id.startswith(DOWNLOAD_PREFIX)


def download_license_token(key: bytes, download_id: str, account_id: str) -> str:
    """Names its download (the license route has no session id for it) and binds it to the
    account: ``lt_<download id>.<mac>``."""
    mac = hmac.new(key, f"download-license\n{download_id}\n{account_id}".encode(), hashlib.sha256)
    return f"lt_{download_id}.{mac.hexdigest()[:40]}"


def download_of(token: str) -> str | None:
    """The download id a download's license token names (unverified), else None."""
    download_id, dot, _ = token.removeprefix("lt_").partition(".")
    return download_id if dot and is_download(download_id) else None
