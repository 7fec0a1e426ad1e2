from __future__ import annotations

import pytest

from api.accounts.models import RegisterRequest
from api.errors import InvalidRequest
from api.profiles.models import CreateProfile
from api.wire import decode


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": 5}', "name"),
        (b'{"name": "x", "colour": "red"}', "colour"),
        (b"{}", "name"),
        (b'{"name": "x", "maturity_rating": "XXX"}', "maturity_rating"),
        (b'{"name": ""}', "name"),
    ],
)
def test_invalid_bodies_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode(body, CreateProfile)
    assert str(caught.value.details).startswith(f"{field}:")


def test_malformed_and_empty_json_are_invalid_requests() -> None:
    for body in (b"{not json", b""):
        with pytest.raises(InvalidRequest):
            decode(body, CreateProfile)


def test_register_defaults_and_email_validation() -> None:
    body = decode(b'{"email": "a@b.io", "password": "longenough"}', RegisterRequest)
    assert (body.plan, body.country) == ("standard", "US")
    with pytest.raises(InvalidRequest) as caught:
        decode(b'{"email": "not-an-email", "password": "longenough"}', RegisterRequest)
    assert str(caught.value.details).startswith("email:")
