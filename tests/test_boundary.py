"""The HTTP boundary without a cluster: an unexpected exception anywhere behind it is a JSON 500
with a stable code, never a plain-text answer or a dropped connection."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from firebreak.entrypoints.gateway import boundary
from firebreak.entrypoints.gateway.gatekeeper import Gatekeeper


async def _raises(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://gw")


async def test_plain_asgi_failure_is_a_json_500() -> None:
    gate = Gatekeeper(_raises, 1024, lambda writing: None)
    async with _client(gate) as http:
        resp = await http.post("/v1/rooms/x/messages", json={})
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["error"]["code"] == "internal_error" and resp.json()["error"]["message"]


async def test_fastapi_failure_is_a_json_500() -> None:
    app = FastAPI()
    boundary.install(app)

    @app.get("/v1/boom")
    async def boom() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    async with _client(Gatekeeper(app, 1024, lambda writing: None)) as http:
        resp = await http.get("/v1/boom")
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "internal_error"
    assert "SQLite" not in resp.text, "internals stay in the log"
