"""A live socket whose client vanished without closing (machine off, network gone) is dropped by
the gateway's WebSocket protocol: the kernel gives up on bytes left unacknowledged for
``UNACKED_LIMIT_S`` (TCP_USER_TIMEOUT, entrypoints/gateway/websocket.py), with no timer per socket
in the server. Loopback always acknowledges, so the client here runs in a network namespace of its
own, and the test makes it vanish by blackholing its route back to the server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from firebreak.entrypoints.gateway import websocket
from firebreak.entrypoints.gateway.websocket import SEND_NOW, SendNowWebSocketProtocol
from firebreak.localcluster.netns import SUBNET_PREFIX, Sites, unavailable
from tests.helpers import eventually

#: The client: upgrades, says so, then reads whatever comes for at most 60 s and exits.
CLIENT = """
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


class _Beating:
    """Accepts a WebSocket and writes a frame to it every 0.2 s (as heartbeats do) until it ends."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        send_now = scope["extensions"][SEND_NOW]["send"]
        incoming = asyncio.ensure_future(receive())
        while not incoming.done():
            send_now(b'{"kind":"heartbeat"}')
            await asyncio.wait({incoming}, timeout=0.2)
        self.gone.set()


@pytest.fixture
def sites() -> Iterator[Sites]:
    why = unavailable()
    if why is not None:
        pytest.skip(why)
    made = Sites.plan(("client",))
    made.create()
    try:
        yield made
    finally:
        made.destroy()


async def test_a_vanished_client_is_dropped(sites: Sites, monkeypatch: pytest.MonkeyPatch) -> None:
    limit_s = 1.0
    monkeypatch.setattr(websocket, "UNACKED_LIMIT_S", limit_s)
    server_addr = f"{SUBNET_PREFIX}.{sites.subnet}.254"  # this machine's end of the bridge
    app = _Beating()
    config = uvicorn.Config(
        app,
        host=server_addr,
        port=0,
        log_level="warning",
        lifespan="off",
        ws=SendNowWebSocketProtocol,
        ws_ping_interval=None,  # nothing but the kernel's limit may notice
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    client: asyncio.subprocess.Process | None = None
    try:
        await eventually(lambda: _true(server.started), within_s=10, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        client = await asyncio.create_subprocess_exec(
            *sites.wrap("client", [sys.executable, "-c", CLIENT, server_addr, str(port)]),
            stdout=asyncio.subprocess.PIPE,
        )
        assert client.stdout is not None
        assert await asyncio.wait_for(client.stdout.readline(), 10) == b"open\n"
        # The client's acknowledgements now vanish, as if its network were gone; it stays running.
        cut = await asyncio.create_subprocess_exec(
            "ip", "-n", sites.namespace("client"), "route", "replace", "blackhole", f"{server_addr}/32"
        )
        assert await cut.wait() == 0
        # Retransmissions back off exponentially; the limit ends them after ``limit_s``.
        await asyncio.wait_for(app.gone.wait(), limit_s + 10)
    finally:
        if client is not None and client.returncode is None:
            client.kill()
            await client.wait()
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def _true(value: bool) -> bool:
    return value
