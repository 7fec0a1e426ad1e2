"""Serving the built web player: redirects, content types, caching, containment, no build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.errors import NotFound
from api.http import Request, Response, Router
from api.web import views


def _router(root: Path) -> Router:
    deps: Any = None  # the web routes read no dependency
    return Router(views.routes(deps, root=root))


async def _get(router: Router, path: str, **headers: str) -> Response:
    route, params = router.match("GET", path)
    return await route.handler(Request("GET", path, headers=headers, path_params=params))


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "vendor").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>player</title>")
    (tmp_path / "docs.html").write_text("<!doctype html><title>docs</title>")
    (tmp_path / "app.js").write_text("export {};")
    (tmp_path / "vendor" / "shaka-player.compiled.js").write_text("var shaka;")
    (tmp_path.parent / "secret.js").write_text("nope")
    return tmp_path


async def test_pages_modules_and_vendor_files(dist: Path) -> None:
    router = _router(dist)
    home = await _get(router, "/")
    assert home.status == 302 and home.headers["Location"] == "/web/"
    bare = await _get(router, "/web")
    assert bare.status == 302 and bare.headers["Location"] == "/web/"
    index = await _get(router, "/web/")
    assert index.status == 200 and index.content_type.startswith("text/html")
    assert index.headers["Cache-Control"] == "no-cache" and b"player" in index.body
    module = await _get(router, "/web/app.js")
    assert module.content_type.startswith("text/javascript")
    vendor = await _get(router, "/web/vendor/shaka-player.compiled.js")
    assert vendor.body == b"var shaka;" and "max-age" in vendor.headers["Cache-Control"]
    docs = await _get(router, "/docs")
    assert b"docs" in docs.body and "img-src 'self'" in docs.headers["Content-Security-Policy"]
    # Revalidation: the same bytes answer 304 to their ETag; a rebuilt file a new ETag.
    again = await _get(router, "/web/app.js", **{"if-none-match": module.headers["ETag"]})
    assert again.status == 304 and again.body == b""
    (dist / "app.js").write_text("export const changed = 1;")
    changed = await _get(router, "/web/app.js", **{"if-none-match": module.headers["ETag"]})
    assert changed.status == 200 and changed.headers["ETag"] != module.headers["ETag"]


@pytest.mark.parametrize(
    "path", ["/web/..", "/web/vendor/..", "/web/.hidden.js", "/web/missing.js", "/web/vendor"]
)
async def test_only_files_of_the_build_are_served(dist: Path, path: str) -> None:
    (dist / ".hidden.js").write_text("x")
    router = _router(dist)
    with pytest.raises(NotFound):
        await _get(router, path)


async def test_without_a_build_every_route_says_so(tmp_path: Path) -> None:
    router = _router(tmp_path / "dist")
    for path in ("/web/", "/web/app.js", "/web/vendor/shaka-player.compiled.js", "/docs"):
        with pytest.raises(NotFound) as refused:
            await _get(router, path)
        assert "not built" in refused.value.message and "make web" in refused.value.message
    assert (await _get(router, "/")).status == 302
