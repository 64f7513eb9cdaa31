"""A lean HTTP/1.1 and WebSocket client for generating load, nothing else.

Why not the real client (httpx + websockets): on this 2-core machine the load generator shares the
CPU with the system under test, and the full client spent ~2.5 ms of CPU per 20-member message
(one send plus 20 deliveries), more than a gateway. These protocols keep to the wire basics the
gateway speaks (keep-alive with Content-Length, unfragmented unmasked server frames, masked text
frames for commands) and parse in
``data_received``, with no task or queue per frame. They still go through the real sockets, HTTP
parser and WebSocket framing of the gateway: only the client side is thinner.

Not a general client: no TLS, no redirects, no chunked bodies, no reconnects. A broken connection
fails the run (the bench counts what was delivered, it does not hide errors).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import cast

from firebreak.bench.connections import connect_from
from firebreak.wire.views import WRITE_URL_HEADER


class WireError(Exception):
    """The peer broke the protocol or the connection."""


class _HttpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._want: asyncio.Future[tuple[int, bytes]] | None = None
        self._lost: Exception | None = None
        #: the last answer's Firebreak-Write-Url header (where this room's writes should go), if any
        self.write_url: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or WireError("connection closed")
        if self._want is not None and not self._want.done():
            self._want.set_exception(self._lost)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        self._parse()

    def _parse(self) -> None:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0 or self._want is None:
            return
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        length = 0
        write_url = None
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == WRITE_URL_HEADER:
                write_url = value.strip()
        if len(self._buf) < end + 4 + length:
            return
        body = bytes(self._buf[end + 4 : end + 4 + length])
        del self._buf[: end + 4 + length]
        status = int(head[0].split(" ", 2)[1])
        self.write_url = write_url
        want, self._want = self._want, None
        if not want.done():
            want.set_result((status, body))

    @property
    def idle_closed(self) -> bool:
        return self._lost is not None and self._want is None

    @property
    def answered_some(self) -> bool:
        """Whether any bytes of an answer not yet complete have arrived."""
        return bool(self._buf)

    def request(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        if self._lost is not None or self.transport is None:
            raise WireError("connection closed")
        assert self._want is None, "one request at a time"
        self._want = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self._want


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._proto: _HttpProtocol | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def write_url(self) -> str | None:
        """The last answer's ``Firebreak-Write-Url`` (docs/API.md), if it had one."""
        return None if self._proto is None else self._proto.write_url

    async def open(self) -> HttpConnection:
        self.close()
        loop = asyncio.get_running_loop()
        _, self._proto = await loop.create_connection(_HttpProtocol, self._host, self._port)
        return self

    async def post(self, path: str, body: bytes, token: str | None = None) -> tuple[int, bytes]:
        """Returns (status, body). A connection the server closed while idle (keep-alive timeout)
        is opened again first, as HTTP clients do; so is one whose close crossed the request
        (the server closed it, or reset it, as the request left, so it answered nothing), and
        the request is sent again. Registrations, rooms and sends carry their id (request_id,
        client_id), so a second copy changes nothing; a login sent twice makes one more session,
        which nothing in the bench uses."""
        reused = self._proto is not None and not self._proto.idle_closed
        if not reused:
            await self.open()
        assert self._proto is not None
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        raw = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{auth}\r\n"
        ).encode() + body
        try:
            return await self._proto.request(raw)
        except (WireError, ConnectionError):
            if not reused or self._proto.answered_some:
                raise
        await self.open()
        return await self._proto.request(raw)

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """Client frames must be masked (RFC 6455 5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    # XOR as one big integer: a loop per byte would cost the load generator more than the frame.
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")
    return head + mask + masked


class WireWebSocket(asyncio.Protocol):
    """A client WebSocket that hands every text frame to a callback."""

    def __init__(self, on_text: Callable[[bytes], None], handshake: bytes) -> None:
        self._on_text = on_text
        self._handshake = handshake
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: Set when the connection ends; carries the close code (or 1006 when it just broke).
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._handshake)

    def send_texts(self, *payloads: bytes) -> None:
        """Writes one masked text frame per payload (client to server: commands, wire/commands.py),
        in one socket write."""
        if self.transport is None or self.transport.is_closing():
            raise WireError("connection closed")
        self.transport.write(b"".join(_client_frame(0x1, payload) for payload in payloads))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or WireError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(1006)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._upgraded:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._buf[:12])
            del self._buf[: end + 4]
            if not status.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(WireError(f"upgrade refused: {status!r}"))
                assert self.transport is not None
                self.transport.close()
                return
            self._upgraded = True
            self.opened.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            n = buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                start = pos + 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                start = pos + 10
            if len(buf) < start + n:
                break
            payload = bytes(buf[start : start + n])
            pos = start + n
            if opcode == 1:
                self._on_text(payload)
            elif opcode == 9 and self.transport is not None:  # ping
                self.transport.write(_client_frame(0xA, payload))
            elif opcode == 8:
                code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
                if not self.closed.done():
                    self.closed.set_result(code)
                if self.transport is not None:
                    self.transport.close()
        del buf[:pos]


async def open_websocket(
    host: str, port: int, path: str, on_text: Callable[[bytes], None], source: str | None = None
) -> WireWebSocket:
    """Opens a WebSocket (from local address ``source``, if given); ``on_text`` is called with every
    text frame, in order, on the event loop."""
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    if source is None:
        _, proto = await loop.create_connection(lambda: WireWebSocket(on_text, handshake), host, port)
    else:
        sock = await connect_from(source, host, port)
        try:
            _, proto = await loop.create_connection(lambda: WireWebSocket(on_text, handshake), sock=sock)
        except BaseException:
            sock.close()  # a no-op where the loop took it over (uvloop >= 0.23, asyncio)
            raise
    try:
        await proto.opened
    except BaseException:
        if proto.transport is not None:
            proto.transport.close()
        raise
    return proto


def local_hosts(socks: list[WireWebSocket]) -> set[str]:
    """The local addresses ``socks`` connected from."""
    return {s.transport.get_extra_info("sockname")[0] for s in socks if s.transport is not None}


def close_websocket(proto: WireWebSocket) -> None:
    if proto.transport is not None and not proto.transport.is_closing():
        proto.transport.write(_client_frame(0x8, struct.pack("!H", 1000)))
        proto.transport.close()
