"""Serves the chat web app (docs/WEB.md) in front of a gateway's API, and lets the other DCs'
pages call this API (CORS, docs/SECURITY.md).

    /                 the app's page
    /app/<file>       its scripts and styles (plain ES modules, no build step)
    /app/config.json  every DC's addresses and this DC's name, from the cluster config
    /sw.js            the service worker (scope ``/``), which caches the app for a reload while
                      this DC is gone

Each DC is its own origin (its own port or host), so a page served by dc1 that fails over to dc2
makes cross-origin calls: the API answers them for the cluster's own origins only. Plain ASGI in
front of the app, so the hot lane's answers (sends) and the gatekeeper's refusals carry the CORS
headers too: a 429 or 503 the page cannot read would look like a network failure.
"""

from __future__ import annotations

import mimetypes
from importlib.resources import files
from importlib.resources.abc import Traversable
from urllib.parse import urlsplit

import msgspec
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from firebreak.config import Config

_LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def allowed_origins(config: Config) -> list[str]:
    """The origins of every DC's pages: its ``http_url`` and its gateway processes' own ports
    (``process_ports``), and for a loopback DC also the same ports as ``localhost``/``127.0.0.1``
    (a person may open either)."""
    origins: list[str] = []
    for dc in config.dcs:
        urls = [dc.http_url, *(dc.process_url(k) for k in range(1, dc.gateways + 1))]
        for url in dict.fromkeys(u for u in urls if u is not None):
            origins.append(url)
            parts = urlsplit(url)
            if parts.hostname in _LOOPBACK_NAMES:
                origins += [f"{parts.scheme}://{name}:{parts.port}" for name in _LOOPBACK_NAMES]
    return sorted(set(origins))


def _load_static() -> dict[str, tuple[bytes, str]]:
    """Every file of static/ by its URL path under /app/, read once (they are small)."""
    found: dict[str, tuple[bytes, str]] = {}
    root = files("firebreak.entrypoints.web") / "static"

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                walk(entry, f"{name}/")
            else:
                kind = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
                if entry.name.endswith(".js"):
                    kind = "text/javascript"
                found[name] = (
                    entry.read_bytes(),
                    f"{kind}; charset=utf-8" if kind.startswith("text") else kind,
                )

    walk(root, "")
    return found


class WebApp:
    """ASGI: the app's files and config at their paths; everything else goes to ``api`` behind CORS."""

    def __init__(self, api: ASGIApp, config: Config, dc_name: str) -> None:
        self._api = CORSMiddleware(
            api,
            allow_origins=allowed_origins(config),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            # x-ops-token: the operations console of one DC reads the others (ops_console/).
            allow_headers=["authorization", "content-type", "x-ops-token"],
            expose_headers=["retry-after", "firebreak-write-url", "server-timing"],
            max_age=600,
        )
        self._files = _load_static()
        dcs = [{"name": d.name, "http_url": d.http_url, "ws_url": d.ws_url} for d in config.dcs]
        # heartbeat_s: how often the live stream hears from a DC that still answers (js/live.js).
        about = {"dc": dc_name, "dcs": dcs, "heartbeat_s": config.limits.ws_heartbeat_s}
        self._files["config.json"] = (msgspec.json.encode(about), "application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            extra: list[tuple[bytes, bytes]] = []
            name = None
            if path == "/":
                name = "index.html"
            elif path == "/sw.js":
                # Served at the root so that it may control "/" (a worker's scope is its folder).
                name = "sw.js"
            elif path.startswith("/app/"):
                name = path.removeprefix("/app/")
            if name is not None and name in self._files:
                body, kind = self._files[name]
                await _answer(send, scope["method"], body, kind, extra)
                return
        await self._api(scope, receive, send)


async def _answer(send: Send, method: str, body: bytes, kind: str, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", kind.encode()),
        (b"content-length", str(len(body)).encode()),
        # Always revalidated: a new version of the app reaches the page on its next load.
        (b"cache-control", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
