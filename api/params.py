"""Query-string parameters, validated: a bad value is a 400 naming the parameter."""

from __future__ import annotations

from collections.abc import Collection

from api.errors import InvalidRequest
from api.http import Request


def text(req: Request, name: str, *, max_length: int = 200) -> str | None:
    value = req.query.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_length:
        raise InvalidRequest(
            f"`{name}` is too long", details=f"{name}: at most {max_length} characters"
        )
    return value


def integer(req: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(
            f"`{name}` must be an integer", details=f"{name}: not an integer"
        ) from None
    if not low <= value <= high:
        raise InvalidRequest(
            f"`{name}` is out of range", details=f"{name}: must be in {low}..{high}"
        )
    return value


def choice(req: Request, name: str, allowed: Collection[str]) -> str | None:
    value = text(req, name)
    if value is not None and value not in allowed:
        raise InvalidRequest(
            f"`{name}` has an unknown value", details=f"{name}: one of {', '.join(sorted(allowed))}"
        )
    return value
