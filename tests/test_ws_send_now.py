"""The gateway's WebSocket protocol (entrypoints/gateway/websocket.py) over a real socket:
``send_now`` writes frames the client receives intact and in order, refuses while the client
does not read (so the session task takes over and waits), and refuses once the socket is closed."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect
from websockets.frames import Frame

from firebreak.entrypoints.gateway.websocket import SEND_NOW, SendNowWebSocketProtocol
from tests.helpers import eventually

FRAME = 60_000  # bytes per frame: a few dozen fill the loopback buffers


class _App:
    """Accepts one WebSocket and hands its ``send_now`` to the test."""

    def __init__(self) -> None:
        self.send_now: asyncio.Future[Callable[[bytes], bool]] = asyncio.get_running_loop().create_future()
        self.gone = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        self.send_now.set_result(cast(Callable[[bytes], bool], scope["extensions"][SEND_NOW]["send"]))
        while (await receive())["type"] != "websocket.disconnect":
            pass
        self.gone.set()


async def _now(value: bool) -> bool:
    return value


@pytest.fixture(params=[False], ids=["plain"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[_App, int]]:
    app = _App()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ws=SendNowWebSocketProtocol,
        ws_per_message_deflate=request.param,
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: _now(server.started), within_s=10, what="uvicorn to start")
        yield app, sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_send_now_writes_refuses_while_paused_and_after_close(served: tuple[_App, int]) -> None:
    app, port = served
    # The client stops reading from the socket while a frame waits unread (max_queue=1), and its
    # receive buffer is fixed and small: the server's kernel buffers then fill after a few MB,
    # its transport buffers the rest and pauses.
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    client.connect(("127.0.0.1", port))
    async with connect(f"ws://127.0.0.1:{port}/", sock=client, max_queue=1, max_size=1 << 20) as ws:
        send_now = await asyncio.wait_for(app.send_now, 10)
        assert send_now(b'{"n":0}')
        assert await ws.recv() == '{"n":0}'
        # The three length encodings (7-bit, 16-bit, 64-bit), checked by an independent parser.
        for size in (125, 126, 65_535, 65_536, 200_000):
            text = b"x" * size
            assert send_now(text)
            assert await asyncio.wait_for(ws.recv(), 10) == text.decode()
        written = 1
        while send_now(b"%d " % written + os.urandom(FRAME // 2).hex().encode()):
            written += 1
            assert written < 1_000, "a client that does not read must pause the socket"
        # Paused: what was written before the refusal arrives whole and in order.
        for n in range(1, written):
            assert (await asyncio.wait_for(ws.recv(), 10)).split()[0] == str(n)

        async def writable_again() -> bool:
            return send_now(b'{"n":"last"}')

        await eventually(writable_again, within_s=10, what="the socket to drain")
        assert await asyncio.wait_for(ws.recv(), 10) == '{"n":"last"}'
    await asyncio.wait_for(app.gone.wait(), 10)
    assert not send_now(b'{"n":"after close"}')


@pytest.mark.parametrize("served", [True], ids=["deflate"], indirect=True)
async def test_send_now_compresses_when_the_client_asked_for_it(served: tuple[_App, int]) -> None:
    """A client that negotiated permessage-deflate (browsers do) gets compressed frames, through
    the library's framing, and reads what was sent."""
    app, port = served
    async with connect(f"ws://127.0.0.1:{port}/", max_size=1 << 20) as ws:
        (deflate,) = ws.protocol.extensions
        compressed = 0
        decode = deflate.decode

        def counting_decode(frame: Frame, *, max_size: int | None = None) -> Frame:
            nonlocal compressed
            compressed += frame.rsv1
            return decode(frame, max_size=max_size)

        deflate.decode = counting_decode  # type: ignore[method-assign]
        send_now = await asyncio.wait_for(app.send_now, 10)
        for n in range(3):
            text = b'{"n":%d,"pad":"%s"}' % (n, b"y" * 70_000)
            assert send_now(text)
            assert await asyncio.wait_for(ws.recv(), 10) == text.decode()
        assert compressed == 3
