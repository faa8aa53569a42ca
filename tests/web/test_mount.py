"""`mount_web` serves the page, its modules, its labels and the charting library from the app."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient

from fleet.web import mount_web
from fleet.web.mount import LIBRARIES, missing_libraries


def client() -> TestClient:
    app = FastAPI()

    @app.get("/api/v1/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    mount_web(app)
    return TestClient(app)


def test_page_and_assets_are_served() -> None:
    c = client()
    index = c.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert '<script type="module" src="/ui/js/main.js">' in index.text
    for path in ("/ui/js/main.js", "/ui/js/map.js", "/ui/app.css"):
        assert c.get(path).status_code == 200, path
    assert c.get("/ui/js/main.js").headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}
    assert json.loads(c.get("/ui/i18n/zh-CN.json").content)["nav.map"]
    assert c.get("/api/v1/ping").json() == {"ok": True}  # the page does not shadow the API


def test_charting_library_comes_from_npm_install_not_a_cdn() -> None:
    assert missing_libraries() == [], "run `npm ci --prefix fleet/web`"
    c = client()
    lib = c.get("/ui/lib/uplot/uPlot.esm.js")
    assert lib.status_code == 200 and "export" in lib.text
    assert c.get("/ui/lib/uplot/../package.json").status_code == 404
    assert str(LIBRARIES["uplot"]).endswith("node_modules/uplot/dist")


def test_no_asset_is_loaded_from_another_host() -> None:
    from fleet.web.mount import STATIC_DIR

    for p in [*STATIC_DIR.rglob("*.js"), *STATIC_DIR.rglob("*.html"), *STATIC_DIR.rglob("*.css")]:
        text = p.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, p


def test_unknown_asset_is_404() -> None:
    assert client().get("/ui/js/nope.js").status_code == 404
