"""The gateway's front door while it starts: answers at once, then hands over to the real app.

The HTTP port opens before the gateway has reached the log, so ``/healthz`` can say what it is
waiting for (a supervisor, an operator or a load balancer sees "starting: waiting for ...", not a
refused connection), and every other request gets 503 ``dc_starting`` with that reason, which
clients treat like any unavailable DC. Once :meth:`StartingApp.serve` is given the real app, every
request goes there.
"""

from __future__ import annotations

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from firebreak.service.startup import Startup

_encode = msgspec.json.encode
#: WebSocket close code "try again later" (RFC 6455 registry): the client reconnects elsewhere.
_TRY_AGAIN_LATER = 1013


class StartingApp:
    def __init__(self, dc: str, startup: Startup) -> None:
        self._dc = dc
        self._startup = startup
        self._app: ASGIApp | None = None

    def serve(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is not None:
            await self._app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _TRY_AGAIN_LATER})
            return
        if scope["type"] != "http":
            return
        starting = self._startup.describe()
        if scope["path"] == "/healthz":
            status, body = 200, {"dc": self._dc, "ready": False, "starting": starting}
        else:
            message = f"{self._dc} is starting: {starting}; use another DC"
            status, body = 503, {"error": {"code": "dc_starting", "message": message}}
        payload = _encode(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
