"""The two requests that carry a messenger's load, answered in plain ASGI: sending one message
(``POST /v1/rooms/{room_id}/messages``) and the live WebSocket (``/v1/ws``).

Why not FastAPI for these: under load in 20-member rooms, FastAPI's routing, dependency solving
and pydantic validation around a send cost about twice the send command itself, and every event
frame went through Starlette's WebSocket wrapper and FastAPI's exception-catching ``send`` before
reaching uvicorn (docs/PERFORMANCE.md). Here a send is: match the path, check the token, decode the
body with msgspec, call :meth:`Messages.send`, write the answer; a frame is one ASGI ``send``.

Everything else stays in FastAPI; ``hot_contract.SEND_OPERATION`` adds the send to FastAPI's OpenAPI
document. Errors are rendered by boundary.py, as for every other endpoint. The
:class:`~.gatekeeper.Gatekeeper` sits in front of this lane, so refusals (draining, catching up),
body limits and ``Server-Timing`` apply here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import parse_qs

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from firebreak.entrypoints.gateway.boundary import bearer, decode_body, error_response
from firebreak.entrypoints.gateway.heartbeats import Heartbeats
from firebreak.entrypoints.gateway.hot_contract import LaneMetrics, Uncounted
from firebreak.entrypoints.gateway.live_socket import SocketHeartbeat, listen
from firebreak.entrypoints.gateway.websocket import SEND_NOW
from firebreak.entrypoints.gateway.ws_commands import LiveCommands
from firebreak.errors import BadRequest, FirebreakError
from firebreak.service.accounts import Accounts
from firebreak.service.hub import CUT_OFF, DRAINING, LOGGED_OUT
from firebreak.service.messages import Messages
from firebreak.service.sessions import LiveSession, SessionEnded, WriteFrameNow
from firebreak.wire.frames import error_frame
from firebreak.wire.requests import SendBody
from firebreak.wire.views import WRITE_URL_HEADER

#: WebSocket close codes (4000-4999 are the application's). 4401 also ends a live session whose
#: token is logged out (reason "logged out", after an error frame ``session_revoked``).
WS_UNAUTHORIZED = 4401
WS_BAD_REQUEST = 4400
WS_SLOW_CONSUMER = 4408
#: The user has ``max_ws_per_user`` live connections at this DC already (config.Limits).
WS_TOO_MANY = 4429
WS_DRAINING = 4503
#: An error's close code, by its HTTP status.
_WS_CLOSE = {401: WS_UNAUTHORIZED, 429: WS_TOO_MANY, 503: WS_DRAINING}

_PREFIX = "/v1/rooms/"
_SUFFIX = "/messages"
_JSON = [(b"content-type", b"application/json")]
_WRITE_URL = WRITE_URL_HEADER.encode()


_send_body = msgspec.json.Decoder(SendBody)
_encoder = msgspec.json.Encoder()


class HotLane:
    """ASGI middleware: answers single sends and live WebSockets, passes everything else on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        accounts: Accounts,
        messages: Messages,
        new_session: Callable[[str, str, str | None], LiveSession],
        refusal: Callable[[], FirebreakError | None],
        write_url: Callable[[str], str | None] = lambda room_id: None,
        metrics: LaneMetrics | None = None,
        heartbeats: Heartbeats | None = None,
        commands: LiveCommands | None = None,
    ) -> None:
        """``new_session(user_id, session_id, cursor)`` makes a user's live session (cursor as the
        client sent it, or None; raises BadRequest for a malformed one); ``refusal()`` says why this DC takes
        no WebSockets now, if so; ``write_url(room_id)`` is the hint for where to send that room's
        writes (the ``Firebreak-Write-Url`` header), if any; ``heartbeats`` gives every live
        socket its ``heartbeat`` frames (heartbeats.py; by default every 5 s, or the longer interval
        its client asked for with ``?heartbeat_s=``); ``commands`` runs
        what clients send on their live sockets (ws_commands.py; without it, what they send is
        ignored)."""
        self._app = app
        self._accounts = accounts
        self._messages = messages
        self._new_session = new_session
        self._refusal = refusal
        self._write_url = write_url
        self._metrics = metrics or Uncounted()
        self._heartbeats = heartbeats if heartbeats is not None else Heartbeats(5.0)
        self._commands = commands

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] == "http":
            if (
                scope["method"] == "POST"
                and path.startswith(_PREFIX)
                and path.endswith(_SUFFIX)
                and "/" not in path[len(_PREFIX) : -len(_SUFFIX)]
                and len(path) > len(_PREFIX) + len(_SUFFIX)
            ):
                await self._send_message(path[len(_PREFIX) : -len(_SUFFIX)], scope, receive, send)
                return
        elif scope["type"] == "websocket" and path == "/v1/ws":
            await self._live(scope, receive, send)
            return
        await self._app(scope, receive, send)

    # ---- POST /v1/rooms/{room_id}/messages ---------------------------------------------------

    async def _send_message(self, room_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            authorization = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                    break
            body = await _read_body(receive)
            claims = bearer(authorization, self._accounts)
            parsed = decode_body(_send_body.decode, body)
            result = await self._messages.send(
                claims.user_id, room_id, parsed.client_id, parsed.text, parsed.attachments
            )
        except FirebreakError as exc:
            self._metrics.send_failed(exc.code)
            if exc.status == 429:
                self._metrics.refused(exc.code)
            # Errors are rare: the boundary's one renderer, as for every other endpoint.
            await error_response(exc.status, exc.code, exc.message, exc.headers())(scope, receive, send)
            return
        self._metrics.sent(result.duplicate, started)
        hint = self._write_url(room_id)
        extra = [(_WRITE_URL, hint.encode())] if hint else []
        await _answer(send, 200 if result.duplicate else 201, _encoder.encode(result), extra)

    # ---- /v1/ws -------------------------------------------------------------------------------

    async def _live(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Accepts, authenticates (``?token=``; ``?cursor=`` and ``?heartbeat_s=`` are optional),
        then streams the session until the client goes away or the server ends it. See
        service/sessions.py for the frames and their order."""
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        try:
            refused = self._refusal()
            if refused is not None:
                raise refused
            query = parse_qs(scope["query_string"].decode("latin-1"))
            token = query.get("token", [""])[0]
            claims = self._accounts.authenticate(token)
            cursor = query.get("cursor", [None])[0]
            heartbeat_s = self._heartbeats.interval(query.get("heartbeat_s", [None])[0])
            session = self._new_session(claims.user_id, claims.session_id, cursor)
            self._metrics.ws_opened(claims.session_id, cursor is not None)
        except FirebreakError as exc:
            await _refuse(send, exc)
            return

        async def write_frame(frame: bytes) -> None:
            await send({"type": "websocket.send", "text": frame.decode()})

        # Two things can end a session: the server (SessionEnded, or the socket failing under a
        # send) and the client going away, which only receive() reports. Without watching it, a
        # silent session would stay registered with the hub until the next event for its user.
        # Heartbeats come from the gateway's timers (heartbeats.py), not from this loop.
        write_now = _write_frame_now(scope)
        commands = (
            None
            if self._commands is None
            else self._commands.connection(token, write_frame, write_now, session)
        )
        streaming = asyncio.ensure_future(session.run(write_frame, write_now, heartbeat_s))
        stop_beating = self._heartbeats.add(SocketHeartbeat(send, write_now), heartbeat_s)
        try:
            if not await listen(receive, streaming, commands):
                return  # the client went away
        finally:
            stop_beating()
            if commands is not None:
                commands.close()
            if not streaming.done():
                streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, SessionEnded, FirebreakError):
                await streaming
        try:
            streaming.result()
        except SessionEnded as ended:
            self._metrics.session_ended(ended.reason)
            with contextlib.suppress(OSError):
                if ended.reason == LOGGED_OUT:
                    # The error frame first, as for a revoked token at connect: clients stop on it
                    # instead of reconnecting elsewhere with the same token.
                    frame = error_frame("session_revoked", "this session has been logged out")
                    await send({"type": "websocket.send", "text": frame.decode()})
                    await send({"type": "websocket.close", "code": WS_UNAUTHORIZED, "reason": "logged out"})
                    return
                code = WS_DRAINING if ended.reason in (DRAINING, CUT_OFF) else WS_SLOW_CONSUMER
                await send(
                    {
                        "type": "websocket.close",
                        "code": code,
                        "reason": f"{ended.reason}: reconnect with your cursor",
                    }
                )
        except FirebreakError as exc:  # refused as it registered (too many connections)
            if exc.status == 429:
                self._metrics.refused(exc.code)
            with contextlib.suppress(OSError):
                await _refuse(send, exc)
        except OSError:
            pass  # the socket is gone (uvicorn's ClientDisconnected is an OSError)


async def _refuse(send: Send, exc: FirebreakError) -> None:
    """Ends a WebSocket that cannot be served: an ``error`` frame, then the close code."""
    await send({"type": "websocket.send", "text": error_frame(exc.code, exc.message).decode()})
    code = _WS_CLOSE.get(exc.status, WS_BAD_REQUEST)
    await send({"type": "websocket.close", "code": code, "reason": exc.code})


def _write_frame_now(scope: Scope) -> WriteFrameNow | None:
    """The server's synchronous frame writer, if it offers one (entrypoints/gateway/websocket.py)."""
    extension = (scope.get("extensions") or {}).get(SEND_NOW)
    return cast(WriteFrameNow, extension["send"]) if extension else None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("the client went away before sending the whole body", code="malformed_request")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON, (b"content-length", str(len(body)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})
