"""Schemathesis hooks for :mod:`loadtest.fuzz` (``SCHEMATHESIS_HOOKS=loadtest.fuzz_hooks``)."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.serializer("application/offset+octet-stream")
def tus_chunk(ctx: Any, value: Any) -> bytes:
    """A tus ``PATCH`` body: raw bytes, whatever was generated for them."""
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def _tolerate_unparsable_urls() -> None:
    """Schemathesis 4.32 scans 2xx bodies for same-origin URLs with ``urlsplit``, which raises on
    a string like ``http://[x`` (an echoed profile name or query) and ends the whole run with an
    internal error. Such a string is just not a link."""
    from schemathesis.engine import observations

    original = observations._same_origin_path

    def same_origin_path(value: str, origin: tuple[str, str]) -> str | None:
        try:
            return original(value, origin)
        except ValueError:
            return None

    observations._same_origin_path = same_origin_path


_tolerate_unparsable_urls()
