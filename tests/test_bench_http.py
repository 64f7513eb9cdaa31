"""The bench's HTTP client (bench/wire.py ``HttpConnection``) over real sockets: a keep-alive
connection that the server closes as the next request leaves is opened again and the request sent
once more; a connection that broke off in the middle of an answer is an error."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from firebreak.bench.wire import HttpConnection, WireError

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _Server:
    """Answers the first request on each connection; what it does with the second is ``second``:
    ``close`` (closes without a byte, as a keep-alive timeout crossing the request), ``reset``
    (the same, as a reset) or ``half`` (a partial answer, then close)."""

    def __init__(self, second: str) -> None:
        self.second = second
        self.requests = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for turn in range(2):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the client is done with this connection
                break
            length = int(
                next(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")).split(
                    b":"
                )[1]
            )
            await reader.readexactly(length)
            self.requests += 1
            if turn == 0:
                writer.write(OK)
            elif self.second == "half":
                writer.write(OK[:20])
            elif self.second == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            await writer.drain()
        writer.close()


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[_Server, int]]:
    handler = _Server(request.param)
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield handler, server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.mark.parametrize("served", ["close", "reset"], indirect=True)
async def test_a_close_crossing_the_request_sends_it_again_on_a_new_connection(
    served: tuple[_Server, int],
) -> None:
    handler, port = served
    conn = await HttpConnection("127.0.0.1", port).open()
    assert await conn.post("/a", b"{}") == (200, b"ok")
    assert await conn.post("/b", b"{}") == (200, b"ok"), "answered on a second connection"
    assert handler.requests == 3
    conn.close()


@pytest.mark.parametrize("served", ["half"], indirect=True)
async def test_a_broken_answer_is_an_error(served: tuple[_Server, int]) -> None:
    _, port = served
    conn = await HttpConnection("127.0.0.1", port).open()
    assert await conn.post("/a", b"{}") == (200, b"ok")
    with pytest.raises(WireError):
        await conn.post("/b", b"{}")
    conn.close()
