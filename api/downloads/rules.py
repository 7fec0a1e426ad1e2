"""The pure decisions of offline downloads: may a device take one more, and what state is one in.

The service reads an account's ledger (which download is held by which device, until when),
asks :func:`admit`, and writes the answer back only if nobody changed the ledger meanwhile; so
these functions see one consistent picture and need no I/O to test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

State = Literal["active", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class Hold:
    """One active download as the account's ledger keeps it."""

    device_id: str
    until_ms: int


@dataclass(frozen=True, slots=True)
class Admitted:
    held: dict[str, Hold]  # the ledger to write: live holds plus the new one


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Literal["devices", "per_device"]
    devices: list[str]  # the devices holding downloads now, for the error's details


def live(held: Mapping[str, Hold], now_ms: int) -> dict[str, Hold]:
    """Holds whose license has not run out: an expired download frees its slot by itself."""
    return {download_id: h for download_id, h in held.items() if h.until_ms > now_ms}


def admit(
    held: Mapping[str, Hold],
    *,
    download_id: str,
    device_id: str,
    now_ms: int,
    until_ms: int,
    max_devices: int,
    per_device: int,
) -> Admitted | Refused:
    """A device already holding downloads may add up to ``per_device``; a new device needs one
    of the plan's ``max_devices`` slots."""
    current = live(held, now_ms)
    devices = sorted({h.device_id for h in current.values()})
    if device_id not in devices and len(devices) >= max_devices:
        return Refused("devices", devices)
    if sum(h.device_id == device_id for h in current.values()) >= per_device:
        return Refused("per_device", devices)
    return Admitted({**current, download_id: Hold(device_id, until_ms)})


def state_of(stored: State, expires_ms: int, now_ms: int) -> State:
    """Revoked and expired are final; an active download expires when its license runs out."""
    if stored == "active" and expires_ms <= now_ms:
        return "expired"
    return stored
