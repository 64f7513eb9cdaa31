"""The listening sockets of a DC's gateway processes, where the DC runs several on one port: the
shared port, and each process's own (``process_ports``, docs/CONFIG.md)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from firebreak.config import DCConfig

log = logging.getLogger(__name__)

#: Whether the kernel hands the connections queued at a closing SO_REUSEPORT listener to another
#: listener of the port (1) or resets them (0, the default): Linux 5.14 and later, per network
#: namespace.
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def reset_warning(setting: Path = MIGRATE_REQ) -> str | None:
    """What to tell the operator of a DC with several gateway processes when a stopping process
    would reset the connections queued at it (clients see a reset and retry, at another DC if
    theirs refuses again); None where the kernel passes them on, or has no such setting."""
    try:
        value = setting.read_text().strip()
    except OSError:
        return None
    if value != "0":
        return None
    return (
        "net.ipv4.tcp_migrate_req is 0: connections waiting to be accepted by a gateway process "
        "that stops are reset, not passed to the DC's other processes (sysctl -w "
        "net.ipv4.tcp_migrate_req=1 on the host, or in the DC's network namespace)"
    )


def listening(dc: DCConfig, process: int) -> list[socket.socket]:
    """What gateway process ``process`` of a DC with several listens on: the shared port, and its
    own port if the DC gives each process one."""
    warning = reset_warning()
    if warning is not None:
        log.warning("%s: %s", dc.label(process), warning)
    socks = shared_port(dc)
    if dc.process_ports:
        try:
            socks += _bound(dc, dc.process_ports[process - 1], shared=False)
        except BaseException:
            for sock in socks:
                sock.close()
            raise
    return socks


def shared_port(dc: DCConfig) -> list[socket.socket]:
    """The DC's HTTP port, bound with SO_REUSEPORT at each address its bind name resolves to (as
    uvicorn binds a name): every gateway process of the DC binds it, and the kernel deals each new
    connection to one of them by a hash of its addresses. IPv6 sockets are IPv6-only, so a name
    with both families gets one socket for each. A DC with one process does not use this: uvicorn
    binds without SO_REUSEPORT, so a second gateway started by mistake fails to bind."""
    return _bound(dc, dc.http_port, shared=True)


def _bound(dc: DCConfig, port: int, shared: bool) -> list[socket.socket]:
    """``port`` bound at each address the DC's bind name resolves to; ``shared``: SO_REUSEPORT."""
    host = dc.bind or dc.host
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    addresses = dict.fromkeys((family, address) for family, _, _, _, address in infos)
    socks: list[socket.socket] = []
    try:
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if shared:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks
