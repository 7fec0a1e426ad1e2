"""Base wire types, shared field constraints and the one JSON codec of the service.

Requests forbid unknown fields so a typo is a 400 naming the field, not a silently ignored
value. Responses do not omit defaults: a seed's field is always present, even when false.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import msgspec

from api.errors import InvalidRequest


class RequestBody(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Base of every request body."""


class ResponseBody(msgspec.Struct):
    """Base of every response body."""


Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
ProfileName = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
LanguageTag = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]
Url = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://\S+$")]
# A client's clock in epoch milliseconds. Bounded (year 2286) so that it fits the shard
# protocol's 64-bit integers: one unencodable op would fail its whole group-commit batch.
EpochMillis = Annotated[int, msgspec.Meta(ge=0, le=10**13)]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_AT_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_FIELD_IN_MESSAGE = re.compile(r"field `(?P<field>[^`]+)`")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def _field_of(message: str) -> tuple[str, str]:
    """Split msgspec's "reason - at `$.a.b`" into ("a.b" or the named field, reason)."""
    reason, path = message, ""
    if match := _AT_PATH.search(message):
        reason, path = message[: match.start()], match["path"]
    if named := _FIELD_IN_MESSAGE.search(reason):
        path = f"{path}.{named['field']}" if path else named["field"]
    return path or "body", reason


def decode(body: bytes, type_: type[T]) -> T:
    """Decode and validate a JSON body; any problem is a 400 whose details name the field."""
    if not body:
        raise InvalidRequest("A JSON body is required", details="body: missing")
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        field, reason = _field_of(str(exc))
        raise InvalidRequest(f"Invalid value for `{field}`", details=f"{field}: {reason}") from None
    except msgspec.DecodeError:
        raise InvalidRequest("Malformed JSON", details="body: malformed JSON") from None


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """Seed A's time format: ISO-8601 UTC with a ``Z``."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
