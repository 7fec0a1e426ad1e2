"""The viewer's country is the service's decision: the account's, or a trusted edge's header."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from api.catalog.access import viewer_country
from api.http import Principal, Request


def _request(headers: dict[str, str]) -> Request:
    principal = Principal("acct_1", "user", "basic", "JP", "fam", 0)
    return Request("GET", "/v1/content/browse", headers=headers, principal=principal)


def _deps(header: str) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(trusted_country_header=header))


def test_without_a_trusted_edge_a_client_header_changes_nothing() -> None:
    assert viewer_country(_deps(""), _request({"x-country": "US"})) == "JP"


def test_a_trusted_edge_decides() -> None:
    assert viewer_country(_deps("x-country"), _request({"x-country": "us"})) == "US"


def test_a_missing_or_malformed_edge_header_falls_back_to_the_account() -> None:
    assert viewer_country(_deps("x-country"), _request({})) == "JP"
    assert viewer_country(_deps("x-country"), _request({"x-country": "USA"})) == "JP"
