"""The WebSocket protocol the gateway's uvicorn runs: uvicorn's sans-I/O protocol plus one ASGI
scope extension, ``firebreak.ws.send_now``, for the live fan-out.

Why: in 20-member rooms a gateway writes about 7 frames per message, one per online device in
its DC. Through ASGI each frame costs a task wake-up for the session and an awaited ``send``
(building the event dict, waiting on the writable event, framing). The extension lets the hub
write a frame synchronously, right after the commit that produced it, when the socket can take it
now; a session whose socket is paused or closing goes back to the awaited path, which waits for
the socket or fails as before (service/hub.py). What it saves is measured in docs/PERFORMANCE.md.

The extension's value is ``{"send": send_now}``; ``send_now(text) -> bool`` writes one text frame
and returns True, or writes nothing and returns False. It frames uncompressed text itself (the
gateway's case: it does not offer compression); a connection that negotiated permessage-deflate
gets its frames through the websockets library. Other ASGI servers simply lack the extension,
and the gateway then uses plain ASGI sends.

It relies on attributes of uvicorn's protocol and of the websockets connection that are not public
API, so both are pinned (pyproject.toml) and it defends itself: a connection whose protocol lacks
one of them gets no extension (and the log says so once), and a session whose direct write ever
fails stays on the ASGI path from then on (tests/test_ws_send_now.py).
"""

from __future__ import annotations

import logging
from asyncio import BaseTransport
from typing import cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request
from websockets.protocol import State

from firebreak.entrypoints.gateway import liveness

SEND_NOW = "firebreak.ws.send_now"
#: What :meth:`SendNowWebSocketProtocol.send_now` uses of uvicorn's protocol and of websockets'
#: connection (``self.conn``).
PROTOCOL_ATTRS = ("close_sent", "handshake_complete", "writable", "transport", "conn")
CONNECTION_ATTRS = ("extensions", "writes", "expect_continuation_frame", "state", "send_text", "data_to_send")

log = logging.getLogger(__name__)
_warned: set[str] = set()


def _warn_once(what: str) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning("WebSocket direct writes off: %s; live frames go through ASGI sends", what)


def missing_internals(protocol: object) -> list[str]:
    """The internals ``send_now`` needs that ``protocol`` lacks (empty: the extension is safe)."""
    missing = [name for name in PROTOCOL_ATTRS if not hasattr(protocol, name)]
    conn = getattr(protocol, "conn", None)
    return missing + [f"conn.{name}" for name in CONNECTION_ATTRS if not hasattr(conn, name)]


class SendNowWebSocketProtocol(WebSocketsSansIOProtocol):
    #: Set after a direct write failed: this connection uses the ASGI path from then on.
    direct_failed = False

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        liveness.watch(transport)  # the kernel notices a vanished client (liveness.py)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # uvicorn has built the scope (for an accepted upgrade) and created the ASGI task, which
        # has not run yet: the app sees the extension from its first step.
        scope = getattr(self, "scope", None)
        if scope is None:
            return
        missing = missing_internals(self)
        if missing:
            _warn_once(f"this uvicorn/websockets lacks {', '.join(missing)}")
            return
        extensions = scope.setdefault("extensions", {})
        extensions[SEND_NOW] = cast(dict[object, object], {"send": self.send_now})

    def start_keepalive(self) -> None:
        # uvicorn calls this once, right after writing the 101, and reads the handshake's response
        # no more. Each socket would keep it (~12 objects: a header set of lists and tuples) for
        # the garbage collector to walk (docs/PERFORMANCE.md, "Many connections");
        # tests/test_ws_send_now.py checks it is let go. The request stays: websockets' parser
        # holds it for the connection's life.
        super().start_keepalive()
        self.__dict__.pop("response", None)

    def send_now(self, text: bytes) -> bool:
        """Writes ``text`` (UTF-8) as one text frame now and returns True; returns False and writes
        nothing if the socket cannot take it now: not accepted yet, closing or closed, or paused
        because the client reads too slowly (the transport's buffer is above its high-water mark),
        or if a direct write on this connection ever failed.
        """
        if self.direct_failed:
            return False
        try:
            return self._write_now(text)
        except Exception as exc:  # an internals change must cost speed, never the session
            self.direct_failed = True
            _warn_once(f"a direct write failed ({exc!r})")
            return False

    def _write_now(self, text: bytes) -> bool:
        # Cheap checks first (this runs for most frames a gateway sends); the connection's own
        # state is checked below, and by send_text on the library's path.
        if (
            self.close_sent
            or not self.handshake_complete
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        conn = self.conn
        if conn.extensions or conn.writes or conn.expect_continuation_frame:
            # Compression negotiated (the gateway turns it off, gateway/main.py, but a server
            # that allows it still works), or output already queued in the library: let
            # websockets frame it, in order.
            try:
                conn.send_text(text)
            except InvalidState:
                return False
            self.transport.write(b"".join(conn.data_to_send()))
            return True
        if conn.state is not State.OPEN:
            return False
        # Frame it here: a server's text frame is FIN + opcode 1, an unmasked length and the
        # payload (RFC 6455 5.2); websockets' Frame/serialize path costs several times more.
        n = len(text)
        if n < 126:
            head = bytes((0x81, n))
        elif n < 65536:
            head = b"\x81\x7e" + n.to_bytes(2, "big")
        else:
            head = b"\x81\x7f" + n.to_bytes(8, "big")
        self.transport.write(head + text)
        return True
