"""The pure download decisions: device slots, the per-device cap, expiry and states."""

from __future__ import annotations

from api.downloads.rules import Admitted, Hold, Refused, admit, live, state_of


def _admit(held: dict[str, Hold], device: str, *, devices: int = 1, per_device: int = 3) -> object:
    return admit(
        held,
        download_id="dl_new",
        device_id=device,
        now_ms=1_000,
        until_ms=9_000,
        max_devices=devices,
        per_device=per_device,
    )


def test_a_first_download_takes_a_device_slot() -> None:
    decision = _admit({}, "phone")
    assert decision == Admitted({"dl_new": Hold("phone", 9_000)})


def test_a_new_device_past_the_plan_is_refused_listing_the_holders() -> None:
    held = {"dl_a": Hold("phone", 5_000)}
    assert _admit(held, "laptop") == Refused("devices", ["phone"])
    assert isinstance(_admit(held, "laptop", devices=2), Admitted)


def test_the_holding_device_may_add_up_to_its_cap() -> None:
    held = {f"dl_{n}": Hold("phone", 5_000) for n in range(3)}
    assert _admit(held, "phone") == Refused("per_device", ["phone"])
    assert isinstance(_admit(dict(list(held.items())[:2]), "phone"), Admitted)


def test_expired_holds_free_their_slot_and_are_pruned() -> None:
    held = {"dl_old": Hold("phone", 1_000), "dl_live": Hold("tablet", 1_001)}
    assert live(held, 1_000) == {"dl_live": Hold("tablet", 1_001)}
    decision = _admit({"dl_old": Hold("phone", 999)}, "laptop")
    assert decision == Admitted({"dl_new": Hold("laptop", 9_000)})


def test_states() -> None:
    assert state_of("active", expires_ms=2_000, now_ms=1_999) == "active"
    assert state_of("active", expires_ms=2_000, now_ms=2_000) == "expired"
    assert state_of("revoked", expires_ms=9_000, now_ms=0) == "revoked"
    assert state_of("expired", expires_ms=9_000, now_ms=0) == "expired"
