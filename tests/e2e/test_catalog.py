"""Catalog and discovery over HTTP: browse, titles, search, lists, ratings, recommendations, home.

The tests find their data through the API (the demo catalog is generated), so they hold for any
catalog size the stack was loaded with.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.maturity import KIDS_CAP, LEVEL
from tests.e2e.helpers import User, register

pytestmark = pytest.mark.e2e


async def _profile(client: httpx.AsyncClient, user: User, **fields: object) -> str:
    if not fields:
        return str(
            (await client.get("/v1/users/profiles", headers=user.auth)).json()["profiles"][0]["id"]
        )
    made = await client.post("/v1/users/profiles", headers=user.auth, json={"name": "P", **fields})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _browse_all(
    client: httpx.AsyncClient, user: User, **query: object
) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    page = 1
    while True:
        body = (
            await client.get(
                "/v1/content/browse",
                headers=user.auth,
                params={**query, "page": page, "limit": 100},
            )
        ).json()
        items += body["content"]
        if not body["pagination"]["has_next"]:
            return items
        page += 1


async def test_browse_filters_and_pages_without_repeats(client: httpx.AsyncClient) -> None:
    user = await register(client)
    first = (await client.get("/v1/content/browse", headers=user.auth, params={"limit": 7})).json()
    assert first["pagination"] == {
        "page": 1,
        "limit": 7,
        "total": first["pagination"]["total"],
        "has_next": True,
    }
    everything = await _browse_all(client, user, genre="comedy")
    ids = [item["id"] for item in everything]
    assert len(ids) == len(set(ids)) and all("comedy" in item["genre"] for item in everything)  # type: ignore[operator]
    last = (
        await client.get(
            "/v1/content/browse",
            headers=user.auth,
            params={"genre": "comedy", "limit": 100, "page": (len(ids) - 1) // 100 + 1},
        )
    ).json()
    assert last["pagination"]["has_next"] is False and last["pagination"]["total"] == len(ids)
    series = (
        await client.get(
            "/v1/content/browse", headers=user.auth, params={"type": "series", "limit": 5}
        )
    ).json()["content"]
    assert series and all(
        s["type"] == "series" and s["seasons"] >= 1 and s["episodes"] >= 1 for s in series
    )
    rated = (
        await client.get(
            "/v1/content/browse", headers=user.auth, params={"rating": "PG", "limit": 100}
        )
    ).json()["content"]
    assert rated and all(LEVEL[str(i["rating"])] <= LEVEL["PG"] for i in rated)
    spoken = (
        await client.get(
            "/v1/content/browse", headers=user.auth, params={"language": "ja-JP", "limit": 20}
        )
    ).json()["content"]
    assert spoken and all("ja-JP" in i["languages"] for i in spoken)
    for bad in (
        {"limit": 101},
        {"page": 0},
        {"type": "podcast"},
        {"rating": "XXX"},
        {"genre": "nope"},
    ):
        refused = await client.get("/v1/content/browse", headers=user.auth, params=bad)
        assert refused.status_code == 400 and refused.json()["error"]["details"].startswith(
            next(iter(bad))
        )


async def test_series_page_has_seasons_and_union_fields(client: httpx.AsyncClient) -> None:
    user = await register(client)
    (series,) = (
        await client.get(
            "/v1/content/browse", headers=user.auth, params={"type": "series", "limit": 1}
        )
    ).json()["content"]
    page = (
        await client.get(
            f"/v1/titles/{series['id']}",
            headers=user.auth,
            params={"profile_id": await _profile(client, user)},
        )
    ).json()
    assert page["title_id"] == series["id"] and page["type"] == "series"
    assert page["availability"] == {"country": "US", "playable": True, "reason": None}
    assert (
        len(page["seasons"]) == series["seasons"] and page["seasons"][0]["episodes"][0]["asset_id"]
    )
    assert set(page["artwork"]) >= {"poster", "background"}
    seed_a = (await client.get(f"/v1/content/{series['id']}", headers=user.auth)).json()
    assert seed_a["id"] == series["id"] and seed_a["title"] == series["title"]
    # Seed A's route speaks seed A: genre (a list), duration, seasons/episodes as counts.
    assert seed_a["genre"] == page["genres"] and seed_a["duration"] == page["duration_s"]
    assert seed_a["seasons"] == len(page["seasons"]) == series["seasons"]
    assert seed_a["episodes"] == sum(len(s["episodes"]) for s in page["seasons"])
    assert seed_a["season_details"] == page["seasons"]
    assert seed_a["rating"] == page["maturity_rating"] and seed_a["thumbnail_url"]
    assert (await client.get("/v1/titles/t_nope", headers=user.auth)).status_code == 404


async def test_region_hides_titles_everywhere_but_detail_says_not_playable(
    client: httpx.AsyncClient,
) -> None:
    us, jp = await register(client, country="US"), await register(client, country="JP")
    us_ids = {i["id"] for i in await _browse_all(client, us, type="documentary")}
    jp_ids = {i["id"] for i in await _browse_all(client, jp, type="documentary")}
    missing = sorted(us_ids - jp_ids)
    assert missing, "the demo catalog has titles missing in some countries"
    title_id = missing[0]
    page = (await client.get(f"/v1/titles/{title_id}", headers=jp.auth)).json()
    assert page["availability"] == {
        "country": "JP",
        "playable": False,
        "reason": "NOT_AVAILABLE_IN_REGION",
    }
    name = page["name"]
    found = (
        await client.get("/v1/search", headers=jp.auth, params={"q": name, "limit": 50})
    ).json()["results"]
    assert title_id not in {r["id"] for r in found}
    assert title_id in {
        r["id"]
        for r in (
            await client.get("/v1/search", headers=us.auth, params={"q": name, "limit": 50})
        ).json()["results"]
    }
    home = (
        await client.get(
            "/v1/home", headers=jp.auth, params={"profile_id": await _profile(client, jp)}
        )
    ).json()
    assert title_id not in {item["title_id"] for row in home["rows"] for item in row["items"]}


async def test_kids_profile_never_sees_above_its_cap(client: httpx.AsyncClient) -> None:
    user = await register(client)
    kid = await _profile(client, user, is_kids=True)
    cap = LEVEL[KIDS_CAP]
    browsed = (
        await client.get(
            "/v1/content/browse", headers=user.auth, params={"profile_id": kid, "limit": 100}
        )
    ).json()["content"]
    assert browsed and all(LEVEL[str(i["rating"])] <= cap for i in browsed)
    mature = (
        await client.get(
            "/v1/content/browse", headers=user.auth, params={"rating": "TV-MA", "limit": 100}
        )
    ).json()["content"]
    mature_one = next(i for i in mature if LEVEL[str(i["rating"])] > cap)
    assert (
        await client.get(
            f"/v1/titles/{mature_one['id']}", headers=user.auth, params={"profile_id": kid}
        )
    ).status_code == 404
    searched = (
        await client.get(
            "/v1/search",
            headers=user.auth,
            params={"q": mature_one["title"], "profile_id": kid, "limit": 50},
        )
    ).json()
    assert mature_one["id"] not in {r["id"] for r in searched["results"]}
    home = (
        await client.get("/v1/home", headers=user.auth, params={"profile_id": kid, "device": "tv"})
    ).json()
    shown = [item for row in home["rows"] for item in row["items"]]
    assert shown and all(LEVEL[item["maturity_rating"]] <= cap for item in shown)
    recs = (await client.get(f"/v1/recommendations/{kid}", headers=user.auth)).json()[
        "recommendations"
    ]
    shown_ids = {c["id"] for row in recs for c in row["content"]}
    ratings = {i["id"]: i["rating"] for i in browsed}
    assert shown_ids and all(
        LEVEL[str(ratings.get(i, "TV-Y"))] <= cap for i in shown_ids & set(ratings)
    )
    added = await client.post(
        f"/v1/profiles/{kid}/mylist", headers=user.auth, json={"title_id": mature_one["id"]}
    )
    assert added.status_code == 404
    for path in (
        "/v1/content/trending",
        "/v1/content/new-releases",
        "/v1/recommendations/trending",
    ):
        body = (
            await client.get(path, headers=user.auth, params={"profile_id": kid, "limit": 50})
        ).json()
        items = body.get("content") or body["recommendations"][0]["content"]
        assert items
        for item in items:
            detail = await client.get(
                f"/v1/titles/{item['id']}", headers=user.auth, params={"profile_id": kid}
            )
            assert detail.status_code == 200 and LEVEL[detail.json()["maturity_rating"]] <= cap


async def test_search_typos_prefixes_cursor_and_union_shape(client: httpx.AsyncClient) -> None:
    user = await register(client)
    top = (await client.get("/v1/content/browse", headers=user.auth, params={"limit": 30})).json()[
        "content"
    ]
    target = next(t for t in top if len(str(t["title"])) >= 8)
    name = str(target["title"])
    exact = (await client.get("/v1/search", headers=user.auth, params={"q": name})).json()
    assert set(exact) >= {"results", "total_results", "query", "next_cursor"}
    first = exact["results"][0]
    assert first["id"] == first["title_id"] == target["id"] and first["match_score"] == 1.0
    assert set(first) >= {
        "id",
        "title",
        "type",
        "match_score",
        "thumbnail_url",
        "kind",
        "title_id",
        "name",
    }
    typo = name[:3] + name[4] + name[3] + name[5:]  # swap two letters
    assert target["id"] in [
        r["id"]
        for r in (await client.get("/v1/search", headers=user.auth, params={"q": typo})).json()[
            "results"
        ][:3]
    ]
    prefix = name.split()[0][:4] if len(name.split()[0]) >= 4 else name[:5]
    completions = (
        await client.get("/v1/search", headers=user.auth, params={"q": prefix, "limit": 50})
    ).json()["results"]
    assert completions and all(0.0 <= r["match_score"] <= 1.0 for r in completions)
    actor = target["cast"][0]
    by_cast = (
        await client.get("/v1/search", headers=user.auth, params={"q": actor, "limit": 50})
    ).json()["results"]
    assert target["id"] in {r["id"] for r in by_cast}
    movies = (
        await client.get(
            "/v1/search", headers=user.auth, params={"q": "the", "type": "movie", "limit": 20}
        )
    ).json()["results"]
    assert movies and all(r["type"] == "movie" for r in movies)

    seen: list[str] = []
    params: dict[str, object] = {"q": "love", "limit": 7}
    for _ in range(6):
        page = (await client.get("/v1/search", headers=user.auth, params=params)).json()
        seen += [r["id"] for r in page["results"]]
        if not page["next_cursor"]:
            break
        params = {**params, "cursor": page["next_cursor"]}
    assert len(seen) == len(set(seen)) and len(seen) > 7
    wrong = await client.get(
        "/v1/search", headers=user.auth, params={"q": "other", "cursor": params["cursor"]}
    )
    assert wrong.status_code == 400
    assert (
        await client.get("/v1/search", headers=user.auth, params={"limit": 51, "q": "x"})
    ).status_code == 400
    assert (await client.get("/v1/search", headers=user.auth)).status_code == 400


async def test_watchlist_and_mylist_are_one_list(client: httpx.AsyncClient) -> None:
    user = await register(client)
    profile = await _profile(client, user)
    a, b = (await client.get("/v1/content/browse", headers=user.auth, params={"limit": 2})).json()[
        "content"
    ]
    assert (
        await client.post(
            f"/v1/users/profiles/{profile}/watchlist",
            headers=user.auth,
            json={"content_id": a["id"]},
        )
    ).json() == {"ok": True}
    assert (
        await client.post(
            f"/v1/profiles/{profile}/mylist", headers=user.auth, json={"title_id": b["id"]}
        )
    ).json() == {"ok": True}
    again = await client.post(
        f"/v1/profiles/{profile}/mylist", headers=user.auth, json={"title_id": b["id"]}
    )
    assert again.status_code == 200  # idempotent
    watchlist = (
        await client.get(f"/v1/users/profiles/{profile}/watchlist", headers=user.auth)
    ).json()["watchlist"]
    mylist = (await client.get(f"/v1/profiles/{profile}/mylist", headers=user.auth)).json()["items"]
    assert [w["id"] for w in watchlist] == [m["title_id"] for m in mylist] == [b["id"], a["id"]]
    assert (
        await client.delete(f"/v1/users/profiles/{profile}/watchlist/{b['id']}", headers=user.auth)
    ).status_code == 204
    assert [
        m["title_id"]
        for m in (await client.get(f"/v1/profiles/{profile}/mylist", headers=user.auth)).json()[
            "items"
        ]
    ] == [a["id"]]
    assert (
        await client.post(
            f"/v1/profiles/{profile}/mylist", headers=user.auth, json={"title_id": "t_nope"}
        )
    ).status_code == 404
    bad = await client.post(
        f"/v1/profiles/{profile}/mylist", headers=user.auth, json={"content_id": a["id"]}
    )
    assert bad.status_code == 400
    other = await register(client)
    for attempt in (
        await client.get(f"/v1/profiles/{profile}/mylist", headers=other.auth),
        await client.post(
            f"/v1/users/profiles/{profile}/watchlist",
            headers=other.auth,
            json={"content_id": a["id"]},
        ),
        await client.delete(f"/v1/profiles/{profile}/mylist/{a['id']}", headers=other.auth),
        await client.post(
            f"/v1/profiles/{profile}/ratings",
            headers=other.auth,
            json={"title_id": a["id"], "rating": "thumbs_up"},
        ),
        await client.get(f"/v1/recommendations/{profile}", headers=other.auth),
        await client.get("/v1/home", headers=other.auth, params={"profile_id": profile}),
    ):
        assert attempt.status_code == 404


async def test_ratings_validate_change_remove_and_steer_recommendations(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    profile = await _profile(client, user)
    base = f"/v1/profiles/{profile}/ratings"
    bad = await client.post(
        base, headers=user.auth, json={"title_id": "t_000001", "rating": "five_stars"}
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"].startswith("rating")

    cold = (await client.get(f"/v1/recommendations/{profile}", headers=user.auth)).json()[
        "recommendations"
    ]
    assert cold and all(row["content"] for row in cold)

    liked = (
        await client.get(
            "/v1/content/browse", headers=user.auth, params={"genre": "horror", "limit": 1}
        )
    ).json()["content"][0]
    assert (
        await client.post(
            base, headers=user.auth, json={"title_id": liked["id"], "rating": "two_thumbs_up"}
        )
    ).status_code == 200
    warm = (await client.get(f"/v1/recommendations/{profile}", headers=user.auth)).json()[
        "recommendations"
    ]
    because = next(row for row in warm if row["kind"] == "because_you_watched")
    assert liked["title"] in because["category"] and all(
        0 <= c["confidence_score"] <= 1 for c in because["content"]
    )
    similar = because["content"][0]

    # A thumbs-down sinks the title and its near copies.
    assert (
        await client.post(
            base, headers=user.auth, json={"title_id": similar["id"], "rating": "thumbs_down"}
        )
    ).status_code == 200
    after = (await client.get(f"/v1/recommendations/{profile}", headers=user.auth)).json()[
        "recommendations"
    ]
    shown = [c["id"] for row in after for c in row["content"]]
    assert similar["id"] not in shown
    listed = (await client.get(base, headers=user.auth)).json()["ratings"]
    assert {r["title_id"]: r["rating"] for r in listed} == {
        liked["id"]: "two_thumbs_up",
        similar["id"]: "thumbs_down",
    }

    changed = await client.post(
        base, headers=user.auth, json={"title_id": liked["id"], "rating": "thumbs_up"}
    )
    assert changed.json()["rating"] == "thumbs_up"
    removed = await client.delete(f"{base}/{similar['id']}", headers=user.auth)
    assert removed.status_code == 200 and removed.json()["rating"] is None
    assert [
        r["title_id"] for r in (await client.get(base, headers=user.auth)).json()["ratings"]
    ] == [liked["id"]]


async def test_similar_trending_and_home_rows(client: httpx.AsyncClient) -> None:
    user = await register(client)
    profile = await _profile(client, user)
    title = (
        await client.get(
            "/v1/content/browse", headers=user.auth, params={"type": "series", "limit": 1}
        )
    ).json()["content"][0]
    similar = (
        await client.get(f"/v1/recommendations/similar/{title['id']}", headers=user.auth)
    ).json()
    (row,) = similar["recommendations"]
    assert row["content"] and title["id"] not in {c["id"] for c in row["content"]}
    scores = [c["confidence_score"] for c in row["content"]]
    assert scores == sorted(scores, reverse=True)

    # Engagement moves trending: a title many profiles rate and list climbs to the top.
    niche = (
        await client.get("/v1/content/browse", headers=user.auth, params={"page": 3, "limit": 1})
    ).json()["content"][0]
    for _ in range(4):
        fan = await register(client)
        fan_profile = await _profile(client, fan)
        await client.post(
            f"/v1/profiles/{fan_profile}/ratings",
            headers=fan.auth,
            json={"title_id": niche["id"], "rating": "two_thumbs_up"},
        )
        await client.post(
            f"/v1/profiles/{fan_profile}/mylist", headers=fan.auth, json={"title_id": niche["id"]}
        )
    for _ in range(30):  # replicas cache trending for a few seconds
        hot = (
            await client.get("/v1/content/trending", headers=user.auth, params={"limit": 5})
        ).json()["content"]
        if niche["id"] in {h["id"] for h in hot}:
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail("engagement did not move trending")

    home = (
        await client.get(
            "/v1/home", headers=user.auth, params={"profile_id": profile, "device": "mobile"}
        )
    ).json()
    types = [r["type"] for r in home["rows"]]
    assert types[0] == "continue_watching" and "trending" in types and "genre" in types
    assert all(len(r["items"]) <= 10 for r in home["rows"])
    assert home["request_id"]
    assert (await client.get("/v1/home", headers=user.auth)).status_code == 400
    assert (
        await client.get(
            "/v1/home", headers=user.auth, params={"profile_id": profile, "device": "toaster"}
        )
    ).status_code == 400
