"""Every image URL the API hands out resolves: a client walking the home rows, a title page and
the profile list shows no broken image."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import first_profile, first_title, register

pytestmark = pytest.mark.e2e

IMAGE_FIELDS = {"thumbnail_url", "poster", "background", "thumbnail", "avatar_url"}


def _image_urls(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in IMAGE_FIELDS and isinstance(item, str):
                yield item
            else:
                yield from _image_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _image_urls(item)


async def test_every_image_url_on_home_title_page_and_profiles_resolves(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    profile = await first_profile(client, user)
    home = await client.get("/v1/home", headers=user.auth, params={"profile_id": profile})
    assert home.status_code == 200, home.text
    series = await first_title(client, user, type="series")
    pages = [
        home.json(),
        (await client.get(f"/v1/titles/{series['id']}", headers=user.auth)).json(),
        (await client.get(f"/v1/content/{series['id']}", headers=user.auth)).json(),
        (await client.get("/v1/users/profiles", headers=user.auth)).json(),
    ]
    urls = sorted({url for page in pages for url in _image_urls(page)})
    kinds = {url.rsplit("/", 1)[1] for url in urls if "/artwork/" in url}
    assert {"poster.jpg", "background.jpg", "thumbnail.jpg"} <= kinds, urls
    assert any("/avatars/" in url for url in urls), urls
    async with httpx.AsyncClient(timeout=60) as browser:  # no token: an <img> sends none
        for url in urls:
            got = await browser.get(url)
            assert got.status_code == 200, f"{url}: {got.status_code} {got.text[:200]}"
            assert got.headers["content-type"] in ("image/jpeg", "image/png"), url
            assert got.content[:3] == b"\xff\xd8\xff" or got.content[:4] == b"\x89PNG", url
            assert "max-age" in got.headers["cache-control"], url
        # Made once and cached: the same bytes again, and a conditional request is a 304.
        again = await browser.get(urls[0])
        assert again.content == (await browser.get(urls[0])).content
        etag = again.headers["etag"]
        unchanged = await browser.get(urls[0], headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and not unchanged.content
        missing = await browser.get(urls[0].rsplit("/", 2)[0] + "/t_nope/poster.jpg")
        assert missing.status_code == 404
