"""The gateway's WebSocket protocol (entrypoints/gateway/websocket.py) over a real socket:
``send_now`` writes frames the client receives intact and in order, refuses while the client
does not read (so the session task takes over and waits), and refuses once the socket is closed;
and a client that vanished without closing is dropped by the kernel's limit on unacknowledged
bytes (entrypoints/gateway/liveness.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect
from websockets.frames import Frame
from websockets.http11 import Response

from firebreak.entrypoints.gateway import liveness, websocket
from firebreak.entrypoints.gateway.websocket import SEND_NOW, SendNowWebSocketProtocol
from firebreak.localcluster.netns import SUBNET_PREFIX, Sites, unavailable
from tests.helpers import eventually

FRAME = 60_000  # bytes per frame: a few dozen fill the loopback buffers


class _App:
    """Accepts one WebSocket and hands its ``send_now`` to the test."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.send_now: asyncio.Future[Callable[[bytes], bool]] = loop.create_future()
        self.extensions: asyncio.Future[set[str]] = loop.create_future()
        self.gone = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        extensions = scope.get("extensions") or {}
        self.extensions.set_result(set(extensions))
        if SEND_NOW in extensions:
            self.send_now.set_result(cast(Callable[[bytes], bool], extensions[SEND_NOW]["send"]))
        while (await receive())["type"] != "websocket.disconnect":
            pass
        self.gone.set()


async def _now(value: bool) -> bool:
    return value


@pytest.fixture(params=[{}], ids=["plain"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[_App, int]]:
    """uvicorn with the gateway's protocol; ``request.param``: more uvicorn settings, and the
    address to listen on (``host``, by default 127.0.0.1)."""
    app = _App()
    settings: dict[str, Any] = {"ws_per_message_deflate": False, **request.param}
    host = settings.pop("host", "127.0.0.1")
    if host == ON_BRIDGE:
        host = bridge(request.getfixturevalue("client_site"))
    sock = socket.socket()
    sock.bind((host, 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws=SendNowWebSocketProtocol, **settings)
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


@pytest.mark.parametrize("served", [{"ws_per_message_deflate": True}], ids=["deflate"], indirect=True)
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


@pytest.fixture
def internals_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if a new websockets release had renamed something send_now uses."""
    monkeypatch.setattr(websocket, "CONNECTION_ATTRS", (*websocket.CONNECTION_ATTRS, "renamed_in_a_release"))


async def test_the_handshake_response_is_let_go_once_the_socket_is_open(served: tuple[_App, int]) -> None:
    """The gateway's protocol drops uvicorn's handshake response after the 101 (websocket.py: ~12
    objects per socket for the garbage collector). Guards the pinned uvicorn: should it keep the
    response elsewhere, or stop calling ``start_keepalive`` after the 101, this fails; the socket
    must work on after it."""
    app, port = served
    async with connect(f"ws://127.0.0.1:{port}/") as ws:
        send_now = await asyncio.wait_for(app.send_now, 10)
        protocol = cast(SendNowWebSocketProtocol, getattr(send_now, "__self__"))  # noqa: B009
        assert not [name for name, value in vars(protocol).items() if isinstance(value, Response)]
        assert send_now(b'{"n":0}') and await ws.recv() == '{"n":0}'
        await ws.send("still read")
    await asyncio.wait_for(app.gone.wait(), 10)


async def test_without_the_internals_it_needs_the_extension_is_withheld(
    internals_changed: None, served: tuple[_App, int]
) -> None:
    app, port = served
    async with connect(f"ws://127.0.0.1:{port}/"):
        assert SEND_NOW not in await asyncio.wait_for(app.extensions, 10)


async def test_after_a_failed_direct_write_the_connection_stays_off_them(served: tuple[_App, int]) -> None:
    app, port = served
    async with connect(f"ws://127.0.0.1:{port}/") as ws:
        send_now = await asyncio.wait_for(app.send_now, 10)
        assert send_now(b'{"n":0}') and await ws.recv() == '{"n":0}'
        assert not send_now(cast(bytes, "not bytes: the write fails inside"))
        assert not send_now(b'{"n":1}'), "once failed, the session's task writes (the ASGI path)"


@pytest.mark.parametrize(
    "served", [{"ws_ping_interval": 0.2, "ws_ping_timeout": 5}], ids=["ping"], indirect=True
)
async def test_the_configured_pings_go_out(served: tuple[_App, int]) -> None:
    """Where the kernel has no limit on unacknowledged bytes, the gateway pings
    (``liveness.ping_interval_s``, gateway/main.py); the pinned uvicorn's protocol, under our
    subclass, must send them."""
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101")
    first = await asyncio.wait_for(reader.readexactly(2), 10)
    assert first[0] == 0x89, f"expected a ping frame, got {first!r}"
    writer.close()


# ---- a client that vanished ------------------------------------------------------------------
#
# A live socket whose client vanished without closing (machine off, network gone) is dropped: the
# kernel gives up on bytes left unacknowledged for ``UNACKED_LIMIT_S`` (TCP_USER_TIMEOUT), with no
# timer per socket in the server. Loopback always acknowledges, so the client runs in a network
# namespace of its own, and the test makes it vanish by blackholing its route back to the server.

#: The client: upgrades, says so, then reads whatever comes for at most 60 s and exits.
VANISHING_CLIENT = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n")
assert s.recv(4096).startswith(b"HTTP/1.1 101")
print("open", flush=True)
s.settimeout(1)
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        if not s.recv(65536):
            break
    except socket.timeout:
        pass
    except OSError:
        break
"""
#: The kernel's limit in this test (the gateway's is 20 s).
LIMIT_S = 1.0
#: ``served`` listens on this machine's end of the client's network namespace.
ON_BRIDGE = "bridge"


def bridge(sites: Sites) -> str:
    return f"{SUBNET_PREFIX}.{sites.subnet}.254"


@pytest.fixture
def client_site() -> Iterator[Sites]:
    why = unavailable()
    if why is not None:
        pytest.skip(why)
    sites = Sites.plan(("client",))
    sites.create()
    try:
        yield sites
    finally:
        sites.destroy()


@pytest.fixture
def short_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(liveness, "UNACKED_LIMIT_S", LIMIT_S)


@pytest.mark.parametrize(
    "served", [{"host": ON_BRIDGE, "ws_ping_interval": None}], ids=["bridge"], indirect=True
)
async def test_a_vanished_client_is_dropped(
    short_limit: None, client_site: Sites, served: tuple[_App, int]
) -> None:
    """Only the kernel's limit can notice here: no pings, and the client's process keeps running."""
    app, port = served
    server = bridge(client_site)
    client = await asyncio.create_subprocess_exec(
        *client_site.wrap("client", [sys.executable, "-c", VANISHING_CLIENT, server, str(port)]),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert client.stdout is not None
        assert await asyncio.wait_for(client.stdout.readline(), 10) == b"open\n"
        send_now = await asyncio.wait_for(app.send_now, 10)
        cut = await asyncio.create_subprocess_exec(
            "ip", "-n", client_site.namespace("client"), "route", "replace", "blackhole", f"{server}/32"
        )
        assert await cut.wait() == 0

        async def dropped() -> bool:
            send_now(b'{"kind":"heartbeat"}')  # bytes in flight, as heartbeats keep them
            return app.gone.is_set()

        # Retransmissions back off exponentially; the limit ends them after LIMIT_S.
        await eventually(dropped, within_s=LIMIT_S + 10, what="the server to drop the vanished client")
    finally:
        if client.returncode is None:
            client.kill()
        await client.wait()


def test_the_gateway_pings_only_where_the_kernel_cannot_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert liveness.ping_interval_s() is None  # Linux: the kernel's limit, no pings
    liveness.kernel_watches.cache_clear()
    monkeypatch.delattr(socket, "TCP_USER_TIMEOUT")  # as on a system without the option
    try:
        assert liveness.ping_interval_s() == liveness.FALLBACK_PING_S
    finally:
        liveness.kernel_watches.cache_clear()
