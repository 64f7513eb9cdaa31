"""The gateway's front door for every HTTP request: refusals while the DC cannot serve, body limits
before a body is read, ``Server-Timing``, and a JSON 500 for anything that escapes the app."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firebreak.entrypoints.gateway.boundary import error_response, internal_error
from firebreak.errors import FirebreakError

log = logging.getLogger(__name__)

#: Methods that change nothing: a DC cut off from the log still answers them (bootstrap.Gateway.refusal).
_READING = frozenset({"GET", "HEAD", "OPTIONS"})


class Gatekeeper:
    """Plain ASGI (Starlette's BaseHTTPMiddleware costs a task per request): refuses API calls
    while ``refusal(writing)`` names a reason (the DC drains, or its read model is still catching up:
    503, so clients go to another DC), rejects request bodies over ``limit`` bytes with 413
    before the app reads them whole, and turns any exception that escapes the app (the hot lane
    renders only FirebreakErrors) into a JSON 500 instead of a plain-text answer."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        refusal: Callable[[bool], FirebreakError | None],
        large: tuple[re.Pattern[str], int] | None = None,
    ) -> None:
        self._app = app
        self._default_limit = limit
        self._refusal = refusal
        #: Paths whose bodies have a limit of their own (upload chunks: docs/FILES.md).
        self._large = large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        answering = False
        #: Set once the body passed the limit: the 413 is the answer, whatever the app does next.
        cut_off = False

        async def timed_send(message: Message) -> None:
            nonlocal answering
            if cut_off:
                return
            # Server-Timing: how long the gateway spent on the request (clients and benches compare
            # it with what they observe, to tell network and client time from server time).
            if message["type"] == "http.response.start":
                answering = True
                took = (time.perf_counter() - started) * 1000
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"server-timing", f"app;dur={took:.2f}".encode()),
                    ],
                }
            await send(message)

        limit = self._default_limit
        if self._large is not None and self._large[0].fullmatch(scope["path"]):
            limit = self._large[1]
        too_large = f"request bodies are at most {limit} bytes"
        # The login provider's endpoints too: its sign-in and profile claims read the read model.
        if scope["path"].startswith(("/v1/", "/oauth/")):
            refused = self._refusal(scope["method"] not in _READING)
            if refused is not None:
                answer = error_response(refused.status, refused.code, refused.message, refused.headers())
                await answer(scope, receive, timed_send)
                return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await error_response(413, "body_too_large", too_large)(scope, receive, timed_send)
                return
        seen = 0

        async def limited() -> Message:
            # A body without Content-Length (chunked) is counted as it arrives; past the limit the
            # gateway answers 413 itself and the app sees the client gone.
            nonlocal seen, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                if not answering:
                    await error_response(413, "body_too_large", too_large)(scope, receive, timed_send)
                cut_off = True
                return {"type": "http.disconnect"}
            return message

        try:
            await self._app(scope, limited, timed_send)
        except Exception:
            if cut_off:
                return  # the app stopped reading a body it was refused: answered already
            log.exception("unhandled error in %s %s", scope.get("method"), scope["path"])
            if not answering:
                await internal_error()(scope, receive, timed_send)
