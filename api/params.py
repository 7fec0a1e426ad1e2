"""Query-string parameters, validated: a bad value is a 400 naming the parameter."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Literal

import msgspec

from api.errors import InvalidRequest
from api.http import Param, Request


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


# What the API description (api.openapi) says about the parameters above; a route lists them in
# its ``params`` with the same bounds it passes to :func:`integer`, :func:`text`, :func:`choice`.


def int_param(name: str, *, low: int, high: int, description: str = "") -> Param:
    # An empty value counts as absent (the default applies).
    bounded = Annotated[int, msgspec.Meta(ge=low, le=high)]
    return Param(name, bounded | Literal[""], description=description)


def text_param(
    name: str, *, max_length: int = 200, required: bool = False, description: str = ""
) -> Param:
    # A required one must hold more than blanks; an optional empty value counts as absent.
    meta = (
        msgspec.Meta(min_length=1, max_length=max_length, pattern=r"\S")
        if required
        else msgspec.Meta(max_length=max_length)
    )
    return Param(name, Annotated[str, meta], required=required, description=description)


def choice_param(name: str, allowed: Collection[str], *, description: str = "") -> Param:
    values = [*sorted(allowed), ""]  # an empty value counts as absent
    return Param(
        name,
        Annotated[str, msgspec.Meta(extra_json_schema={"enum": values})],
        description=description,
    )


PROFILE_ID = text_param(
    "profile_id", max_length=64, description="The caller's profile whose maturity cap applies"
)
