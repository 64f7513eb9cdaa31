"""The load generator's own set-up for very many sockets (bench/connections.py)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from firebreak.bench.connections import SOCKETS_PER_GATEWAY, gateways_for, source_address
from firebreak.bench.listener_wire import Dial
from firebreak.bench.listeners import SOCKETS_PER_LISTENER, listeners_for, turns
from firebreak.bench.wire import close_websocket, open_websocket

_RAISE = """
import resource
from firebreak.bench.connections import raise_open_files
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 2048))
have = raise_open_files(4096)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
print(have, soft, hard)
"""
#: Bit of CAP_SYS_RESOURCE in /proc/self/status's CapEff: what raising a hard limit takes (root in
#: a container may lack it).
_CAP_SYS_RESOURCE = 1 << 24


def _may_raise_hard_limits() -> bool:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & _CAP_SYS_RESOURCE)
    return False


def test_the_open_files_limit_goes_up_to_what_is_wanted_where_the_process_may() -> None:
    """The soft limit rises to the hard one; a process allowed to raise hard limits raises that too
    (100,000 sockets need more than a usual hard limit). In a child process: the limits are the
    process's own."""
    out = subprocess.run([sys.executable, "-c", _RAISE], capture_output=True, text=True, check=True)
    have, soft, hard = (int(word) for word in out.stdout.split())
    assert have == soft
    if _may_raise_hard_limits():
        assert (soft, hard) == (4096, 4096)
    else:
        assert (soft, hard) == (2048, 2048)


def test_sockets_are_spread_over_loopback_source_addresses() -> None:
    assert source_address(0, 1) is None
    assert [source_address(i, 3) for i in range(4)] == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"]


async def _upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    await reader.read()  # until the client closes
    writer.close()


async def _open_from_a_source_address() -> tuple[str, int]:
    server = await asyncio.start_server(_upgrade, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ws = await open_websocket("127.0.0.1", port, "/v1/ws", lambda _: None, "127.0.0.3")
        assert ws.transport is not None
        sock = ws.transport.get_extra_info("socket")
        try:
            return sock.getsockname()[0], sock.getsockopt(socket.IPPROTO_IP, socket.IP_BIND_ADDRESS_NO_PORT)
        finally:
            close_websocket(ws)


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_socket_from_a_source_address_leaves_the_choice_of_its_port_to_connect(
    run: Callable[[Coroutine[Any, Any, tuple[str, int]]], tuple[str, int]],
) -> None:
    """A plain bind to the source address would make the kernel search for a port no socket on that
    address uses, a scan of the port range per socket once half of it is taken (bench/connections.py).
    On both loops: the bench and its listener processes run uvloop."""
    assert run(_open_from_a_source_address()) == ("127.0.0.3", 1)


def test_listener_processes_are_added_only_past_what_one_process_holds() -> None:
    assert listeners_for(SOCKETS_PER_LISTENER) == 0, "the main process holds them"
    assert listeners_for(SOCKETS_PER_LISTENER + 1) == 2
    assert listeners_for(100_000 - 100) == 7


def test_rooms_of_any_size_are_spread_evenly_over_the_listeners_one_turn_at_a_time() -> None:
    """Each turn goes to the listener holding the fewest sockets: rooms of one socket each do not all
    land on the first listener, and a room larger than a turn is split over several listeners."""
    held = [0, 0, 0]
    for room in range(10):
        for who, chunk in turns([Dial("127.0.0.1", 1, f"/r{room}")], held):
            held[who] += len(chunk)
    assert held == [4, 3, 3]
    planned = turns([Dial("127.0.0.1", 1, f"/{i}") for i in range(5)], [3, 1, 2], per_turn=2)
    assert [(who, [d.path for d in chunk]) for who, chunk in planned] == [
        (1, ["/0", "/1"]),
        (2, ["/2", "/3"]),
        (0, ["/4"]),
    ]


def test_gateway_processes_are_one_per_share_of_a_dcs_sockets_within_the_bound() -> None:
    assert gateways_for(0, 16) == 1
    assert gateways_for(SOCKETS_PER_GATEWAY, 16) == 1
    assert gateways_for(SOCKETS_PER_GATEWAY + 1, 16) == 2
    assert gateways_for(33_334, 16) == 2
    assert gateways_for(10**9, 16) == 16
