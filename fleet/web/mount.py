"""Serve the dispatcher's page from the service itself (no separate web server, no CDN).

`/`            the page (index.html)
`/ui/...`      its ES modules and CSS (fleet/web/static)
`/ui/i18n/...` label files, one JSON per language (fleet/web/i18n)
`/ui/lib/...`  browser libraries from npm, only the files the page needs (fleet/web/node_modules)
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
I18N_DIR = WEB_DIR / "i18n"
NODE_MODULES = WEB_DIR / "node_modules"
# The npm packages the page loads, each as the one folder of it that is served.
LIBRARIES = {"uplot": NODE_MODULES / "uplot" / "dist"}
INSTALL_HINT = "npm ci --prefix fleet/web"
LANGUAGES = ("en", "zh-CN")

log = logging.getLogger(__name__)
_NO_CACHE = {"Cache-Control": "no-cache"}


def missing_libraries() -> list[str]:
    """Names of npm packages the page needs that are not installed."""
    return [name for name, folder in LIBRARIES.items() if not folder.is_dir()]


def mount_web(app: FastAPI) -> None:
    """Add the page and its assets to `app`. Call after the API routes are included."""
    missing = missing_libraries()
    if missing:
        log.warning("web page: %s not installed (run `%s`); KPI charts are off", ", ".join(missing), INSTALL_HINT)

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_NO_CACHE)

    for name, folder in LIBRARIES.items():
        if folder.is_dir():
            app.mount(f"/ui/lib/{name}", StaticFiles(directory=folder), name=f"ui-lib-{name}")
        else:
            app.add_api_route(
                f"/ui/lib/{name}/{{path:path}}",
                _missing_library(name),
                include_in_schema=False,
            )
    app.mount("/ui/i18n", StaticFiles(directory=I18N_DIR), name="ui-i18n")
    app.mount("/ui", StaticFiles(directory=STATIC_DIR), name="ui")


def _missing_library(name: str):  # type: ignore[no-untyped-def]
    def handler(path: str) -> PlainTextResponse:
        return PlainTextResponse(f"{name} is not installed on this server: run `{INSTALL_HINT}`", status_code=503)

    return handler
