"""How the gateway notices a live socket whose client is gone without closing (its machine off,
its network gone): by the kernel's limit on unacknowledged bytes, with the heartbeats as the bytes,
rather than by WebSocket pings.

Every live socket gets ``TCP_USER_TIMEOUT``: bytes sent that stay unacknowledged for
:data:`UNACKED_LIMIT_S` close it. Every socket is sent a heartbeat at the interval its client
chose (5-300 s, heartbeats.py), so a vanished client is dropped within that interval plus the
limit; so is one that stopped reading, once its window stays shut.

Why not pings: uvicorn's ping is a timer, a frame and a pong to read per socket per interval in
the gateway, and a frame to read and a pong to write in the client: with 100,000 sockets, a
large share of what the idle sockets cost the machine, and the reason set-up slowed as they
accumulated (docs/PERFORMANCE.md, "No WebSocket pings"). They also woke a phone that asked for
rare heartbeats more often than it asked.

Why not TCP keepalive either: with the user timeout shorter than the keepalive idle time, the
kernel resets a socket whose first probe goes unanswered, at the next probe, so one lost probe
ends a healthy connection; sockets that go quiet together have their probes due together, and a
burst of them can overflow a receive queue (docs/DECISIONS.md, "No TCP keepalive on live
sockets"). A user timeout long enough to outlast several probes would slow the detection of every
vanished client.

What pings noticed and this does not: a client whose machine still answers for it while the client
itself is frozen, with nothing waiting for it. Where the system lacks the option, the gateway pings
every :data:`FALLBACK_PING_S` (:func:`ping_interval_s`).
"""

from __future__ import annotations

import contextlib
import functools
import socket
from asyncio import BaseTransport

UNACKED_LIMIT_S = 20.0
#: WebSocket pings, only where the kernel has no user timeout (their timeout: ``UNACKED_LIMIT_S``).
FALLBACK_PING_S = 30.0


@functools.cache
def kernel_watches() -> bool:
    """Whether this system takes the option :func:`watch` sets (Linux): tried once on a socket of
    its own, since a system may name the option and still refuse it."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is None:
        return False
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.IPPROTO_TCP, option, round(UNACKED_LIMIT_S * 1000))
    except OSError:
        return False
    return True


def ping_interval_s() -> float | None:
    """uvicorn's ``ws_ping_interval`` for the gateway: none where the kernel watches the sockets."""
    return None if kernel_watches() else FALLBACK_PING_S


def watch(transport: BaseTransport) -> None:
    """Sets the user timeout on the transport's socket, where the system has it."""
    sock = transport.get_extra_info("socket")
    if sock is None or not kernel_watches():
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, round(UNACKED_LIMIT_S * 1000))
