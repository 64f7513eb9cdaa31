"""The operations console (``/ops``), the public status page (``/status``) and ``/metrics``, on
every gateway (docs/OPERATIONS.md).

``/ops`` is a static page (HTML, CSS, JS under ``static/``, no build step, nothing from a CDN); it
asks for the ops token and then talks to the ops API (``/internal/*``, header ``X-Ops-Token``) and
to each DC's ``/metrics``. So that the console keeps working from a surviving DC, and can read the
other DCs, the gateway answers cross-origin requests from the configured DCs' own origins only
(the web app's CORS layer, entrypoints/web/routes.py); the token travels in a header, never in a
cookie.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

import msgspec
from fastapi import Depends, FastAPI, Header
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.staticfiles import StaticFiles

from firebreak.config import Config, DCConfig
from firebreak.entrypoints.ops_console import status
from firebreak.entrypoints.ops_console.drill_runs import DrillRuns
from firebreak.errors import Forbidden, NotFound
from firebreak.wire.views import Health

STATIC = Path(__file__).parent / "static"
#: Drill reports the console lists: ``<data_dir>/drills/<name>/report.json`` (docs/DRILLS.md).
DRILLS_DIR = "drills"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class Exposition(Protocol):
    def exposition(self) -> bytes: ...


class ConsoleParts(Protocol):
    """What the console's routes use of a running gateway (bootstrap.Gateway)."""

    config: Config
    dc: DCConfig
    #: Which of the DC's gateway processes this is.
    process: int

    @property
    def metrics(self) -> Exposition: ...
    def health(self) -> Health: ...


def add_console(app: FastAPI, gw: ConsoleParts, guard: Callable[..., Awaitable[None]]) -> None:
    config = gw.config
    token = config.secrets.ops_token

    async def metrics_guard(
        x_ops_token: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        # Prometheus sends a bearer token natively (scrape config ``authorization``).
        given = x_ops_token or (authorization or "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given, token):
            raise Forbidden("/metrics needs the ops token (X-Ops-Token or a bearer token)", code="ops_only")

    @app.get("/metrics", dependencies=[Depends(metrics_guard)], include_in_schema=False)
    async def metrics() -> Response:
        return Response(gw.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    # ---- the public status page -------------------------------------------------------------

    def own_health() -> dict[str, Any]:
        health = gw.health()
        return {"ready": health.ready, "draining": health.draining}

    @app.get("/status", include_in_schema=False)
    async def status_page() -> HTMLResponse:
        report = await status.gather(config, gw.dc.name, gw.process, own_health)
        return HTMLResponse(status.render(report), headers={"cache-control": "no-store"})

    @app.get("/status.json", include_in_schema=False)
    async def status_json() -> Response:
        report = await status.gather(config, gw.dc.name, gw.process, own_health)
        return Response(msgspec.json.encode(report), media_type="application/json")

    # ---- the console --------------------------------------------------------------------------

    @app.get("/ops", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    app.mount("/ops/static", StaticFiles(directory=STATIC), name="ops-static")

    drills = config.data_dir / DRILLS_DIR

    @app.get("/ops/api/drills", dependencies=[Depends(guard)], include_in_schema=False)
    async def drill_reports() -> JSONResponse:
        """Past drill reports found under ``<data_dir>/drills/``, newest first."""
        found = []
        for path in sorted(drills.glob("*/report.json")) if drills.is_dir() else []:
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            found.append(
                {
                    "name": path.parent.name,
                    "started_at": doc.get("started_at"),
                    "passed": bool((doc.get("verdict") or {}).get("passed")),
                    "summary": doc.get("summary", ""),
                    "command": doc.get("command", ""),
                    "html": (path.parent / "report.html").exists(),
                }
            )
        found.sort(key=lambda r: str(r["started_at"] or ""), reverse=True)
        return JSONResponse({"directory": str(drills), "reports": found})

    runs = DrillRuns(config, drills)

    @app.post("/ops/api/drills/run", dependencies=[Depends(guard)], include_in_schema=False)
    async def run_drill() -> JSONResponse:
        """Starts a short drill against a throwaway local cluster (ops_console/drill_runs.py):
        202 with its state; 409 ``drill_running`` while one runs; 501 ``not_local`` on a
        multi-host deployment."""
        return JSONResponse(runs.start(), status_code=202)

    @app.get("/ops/api/drills/run", dependencies=[Depends(guard)], include_in_schema=False)
    async def drill_run() -> JSONResponse:
        """The console's drill: idle, running (with its newest output line), passed, failed or error."""
        return JSONResponse(runs.state())

    @app.get("/ops/api/drills/{name}", dependencies=[Depends(guard)], include_in_schema=False)
    async def drill_report(name: str) -> FileResponse:
        path = drills / name / "report.html"
        if not _NAME.match(name) or not path.is_file():
            raise NotFound(f"no drill report named {name!r}", code="no_such_report")
        return FileResponse(path, media_type="text/html")
