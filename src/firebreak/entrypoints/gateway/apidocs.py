"""The API's browsable documentation (``/docs``, Swagger UI) served entirely by the gateway, so it
works on a machine without internet: FastAPI's own page loads its script and styles from a CDN.
The files come from the ``fastapi-offline`` package (pinned in pyproject.toml). FastAPI's ReDoc
page (``/redoc``) is off: it fetches its script from a CDN, and even served locally ReDoc loads its
logo from one."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the Swagger UI files are served.
ASSETS = "/docs-assets"


def assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Adds ``/docs`` to ``app``, which must be made with ``docs_url=None`` and ``redoc_url=None``
    (FastAPI's CDN pages)."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
