"""The web player in a real browser: Debian's Chromium, driven by Playwright, plays a title.

Signs in through the page, picks a profile, finds a title by search, plays it for 5 s or more
(DASH through Shaka Player, Clear Key through our license server), then checks through the API
that the service holds that session's progress, and in MongoDB its QoE events. The negative
control stops the session just before the page's license request reaches the service: the page
shows the refusal and not one frame decodes.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; never ``playwright install``) and
the built player (``make web``). Without them the test is skipped with the reason, or fails
when ``REQUIRE_BROWSER_TEST=1`` (CI).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pymongo import MongoClient

from stack.local import PROJECT_ROOT, LocalStack
from tests.e2e.helpers import User, first_profile, first_title, register

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
WEB_DIST = PROJECT_ROOT / "web" / "dist"
SCREENSHOT = PROJECT_ROOT / "docs" / "web-player.png"
PLAY_S = 5.0


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.is_file():
        return f"no browser at {CHROMIUM}: apt-get install chromium (never `playwright install`)"
    if not (WEB_DIST / "index.html").is_file():
        return f"the web player is not built ({WEB_DIST} is missing): install npm, run `make web`"
    return None


@pytest.fixture(scope="session", autouse=True)
def _browser_or_reason() -> None:
    """Before the stack starts (an autouse fixture goes first within its scope): no browser,
    no stack."""
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("REQUIRE_BROWSER_TEST") == "1":
        pytest.fail(f"REQUIRE_BROWSER_TEST=1 but {reason}")
    pytest.skip(f"BROWSER TEST NOT RUN: {reason}")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"],
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _sign_in(page: Any, base_url: str, user: User) -> None:
    """Through the page, as a person does: sign in, then pick the first profile."""
    await page.goto(base_url + "/")  # redirects to /web/
    assert page.url.startswith(base_url + "/web/"), page.url
    await page.fill("#signin-email", user.email)
    await page.fill("#signin-password", user.password)
    await page.click("#signin-form button[type=submit]")
    await page.locator("button.profile").first.click()
    await page.locator("#rows .tile").first.wait_for()


async def _stored_events(stack: LocalStack, session_id: str, names: set[str]) -> list[str]:
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env()["MONGODB_URL"])
    try:
        deadline = time.monotonic() + 20
        while True:
            found = [e["event"] for e in mongo.streaming.events.find({"session_id": session_id})]
            if names <= set(found) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.5)
    finally:
        mongo.close()


async def test_a_person_signs_in_finds_a_title_and_plays_it(
    stack: LocalStack, client: httpx.AsyncClient, browser: Any
) -> None:
    user = await register(client)
    profile = await first_profile(client, user)
    movie = await first_title(client, user, type="movie")
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        await _sign_in(page, stack.base_url, user)
        assert await page.locator("#rows .row").count() >= 1  # the home rows

        await page.fill("#search-input", movie["title"])
        await page.press("#search-input", "Enter")
        await page.locator(f'#results .tile[data-title-id="{movie["id"]}"]').click()
        await page.locator("#title-detail h1").wait_for()
        await page.locator("#title-detail button.play").first.click()

        # Plays: time advances past PLAY_S and frames decode; a heartbeat went out meanwhile.
        await page.wait_for_function(
            f"() => document.querySelector('#video').currentTime >= {PLAY_S}"
            " && window.__playback && window.__playback.sent.progress >= 1",
            timeout=60_000,
        )
        state = await page.evaluate(
            """() => ({
                time: document.querySelector('#video').currentTime,
                frames: document.querySelector('#video').getVideoPlaybackQuality().totalVideoFrames,
                session: window.__playback.started,
                sent: window.__playback.sent,
                error: window.__playback.lastError,
            })"""
        )
        assert state["error"] is None, (state, console)
        assert state["time"] >= PLAY_S and state["frames"] > 0, (state, console)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await page.hover("#video")  # the player's controls show
        await asyncio.sleep(1)
        await page.screenshot(path=str(SCREENSHOT))

        session = state["session"]
        assert session["title_id"] == movie["id"] and session["profile_id"] == profile
        await page.evaluate("() => { location.hash = '#/home'; }")  # leaving stops the stream
        await page.locator("#rows .tile").first.wait_for()
    finally:
        await context.close()

    # The service recorded the session's progress (history reads MongoDB, flushed every
    # second here): the heartbeats', then the last position the page sent when it left.
    deadline = time.monotonic() + 20
    item: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        history = await client.get(f"/v1/users/profiles/{profile}/history", headers=user.auth)
        assert history.status_code == 200, history.text
        item = next(
            (h for h in history.json()["history"] if h["asset_id"] == session["asset_id"]), None
        )
        if item is not None and item["position"] >= int(state["time"]):
            break
        await asyncio.sleep(0.5)
    assert item is not None and item["content_id"] == movie["id"]
    assert item["position"] >= int(state["time"]) >= int(PLAY_S), item
    # … and its QoE events, as the player raised them.
    stored = await _stored_events(stack, session["session_id"], {"start", "play", "heartbeat"})
    assert {"start", "play", "heartbeat"} <= set(stored), stored
    # Leaving the page stopped the stream: its license is refused now.
    stopped = await client.post(
        "/v1/drm/licenses",
        params={"session_id": session["session_id"]},
        headers={**user.auth, "X-License-Token": session["drm"]["license_token"]},
        content=b'{"kids":["AAAAAAAAAAAAAAAAAAAAAA"],"type":"temporary"}',
    )
    assert stopped.status_code == 404, stopped.text


async def test_a_refused_license_shows_the_error_and_decodes_nothing(
    stack: LocalStack, client: httpx.AsyncClient, browser: Any
) -> None:
    user = await register(client)
    movie = await first_title(client, user, type="movie")
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    stopped: list[str] = []

    async def stop_then_forward(route: Any) -> None:
        """The session ends (through the API) just before its license request arrives."""
        session_id = parse_qs(urlsplit(route.request.url).query)["session_id"][0]
        if session_id not in stopped:
            done = await client.post(
                f"/v1/streaming/{movie['id']}/stop",
                headers=user.auth,
                json={"session_id": session_id},
            )
            assert done.status_code == 200, done.text
            stopped.append(session_id)
        await route.continue_()

    try:
        await _sign_in(page, stack.base_url, user)
        await page.route("**/v1/drm/licenses?*", stop_then_forward)
        await page.evaluate(f"() => {{ location.hash = '#/play/{movie['id']}'; }}")
        error = page.locator("#play-error .error")
        await error.wait_for(timeout=30_000)
        assert await error.get_attribute("data-code") == "SESSION_NOT_FOUND"
        assert "license" in (await error.inner_text()).lower()
        await asyncio.sleep(2)  # give a (wrongly) playing video time to decode something
        frames = await page.evaluate(
            "() => document.querySelector('#video').getVideoPlaybackQuality().totalVideoFrames"
        )
        assert stopped and frames == 0
    finally:
        await context.close()


async def test_the_stream_limit_is_shown_with_the_streams_it_lists(
    stack: LocalStack, client: httpx.AsyncClient, browser: Any
) -> None:
    user = await register(client, plan="basic")
    profile = await first_profile(client, user)
    movie = await first_title(client, user, type="movie")
    elsewhere = await client.post(
        "/v1/playback/sessions",
        headers=user.auth,
        json={
            "profile_id": profile,
            "title_id": movie["id"],
            "device": {"device_id": "living-room-tv", "platform": "tv"},
        },
    )
    assert elsewhere.status_code == 201, elsewhere.text
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    try:
        await _sign_in(page, stack.base_url, user)
        await page.evaluate(f"() => {{ location.hash = '#/play/{movie['id']}'; }}")
        error = page.locator("#play-error .error")
        await error.wait_for(timeout=30_000)
        assert await error.get_attribute("data-code") == "STREAM_LIMIT_REACHED"
        row = page.locator(f'#play-error tr[data-session-id="{elsewhere.json()["session_id"]}"]')
        await row.wait_for()
        assert "living-room-tv" in await row.inner_text()
        assert movie["title"] in await row.inner_text()  # the title by name, not by id
    finally:
        await context.close()
        await client.post(
            f"/v1/streaming/{movie['id']}/stop",
            headers=user.auth,
            json={"session_id": elsewhere.json()["session_id"]},
        )
