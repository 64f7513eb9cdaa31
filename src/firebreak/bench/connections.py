"""What the load generator needs to hold very many live connections on one machine.

* Source addresses: the kernel gives each (source address, destination address, destination
  port) at most the ephemeral port range (~28,000 ports by default) of connections, and a
  gateway is one destination. Spreading the sockets over several loopback source addresses
  (127.0.0.2, 127.0.0.3, ...: all of 127.0.0.0/8 is the loopback interface on Linux) multiplies
  that by their number.
* Binding to a source address: a plain ``bind(address, 0)`` makes the kernel choose the local
  port at once, without knowing the destination, so it looks for a port no socket on that address
  uses at all. Past about half the port range per address that search scans the range on every
  bind, which was most of the load generator's set-up cost at 100,000 sockets (figures in
  docs/PERFORMANCE.md, bench/port_search.py measures it). ``IP_BIND_ADDRESS_NO_PORT`` leaves the port to
  ``connect()``, which knows the destination and may reuse a port that other destinations use.
* Open files: each socket is a file descriptor in the load generator and one in a gateway. The
  bench raises its own limit before it starts the cluster, whose processes inherit it: the soft
  limit up to the hard one, and the hard one too where the process may (CAP_SYS_RESOURCE).
"""

from __future__ import annotations

import asyncio
import math
import resource
import socket

#: 127.0.0.2 up to 127.0.0.251: 127.0.0.1 stays the gateways' own address.
MAX_SOURCE_ADDRESSES = 250


#: The most live sockets the bench gives one gateway process: this machine's hard open-files
#: limit (20,000 per process) less room for the read model, NATS and the process's own files.
SOCKETS_PER_GATEWAY = 18_000


def gateways_for(sockets_per_dc: int, most: int) -> int:
    """Gateway processes per DC for ``sockets_per_dc`` live sockets (at least 1, at most ``most``)."""
    return max(1, min(most, math.ceil(sockets_per_dc / SOCKETS_PER_GATEWAY)))


def raise_open_files(wanted: int) -> int:
    """Raises this process's soft limit of open files to ``wanted``, and the hard limit with it
    where this process may (root, or CAP_SYS_RESOURCE; the kernel's ``fs.nr_open`` bounds both);
    returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, wanted))
            hard = wanted
        except (ValueError, OSError):
            pass  # unprivileged: the hard limit stays, and so does the ceiling below
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if ceiling > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        return ceiling
    return soft


def source_address(i: int, count: int) -> str | None:
    """The loopback source address of the ``i``-th connection when spreading over ``count`` of
    them (None for 1: the kernel chooses, as for any connection)."""
    if count <= 1:
        return None
    return f"127.0.0.{2 + i % min(count, MAX_SOURCE_ADDRESSES)}"


def bound_socket(source: str, port_at_connect: bool = True) -> socket.socket:
    """A TCP socket bound to local address ``source``; its port is chosen by ``connect()``
    (``port_at_connect``, see the module's docstring) or by the bind itself."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if port_at_connect:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
    except BaseException:
        sock.close()
        raise
    return sock


async def connect_from(source: str, host: str, port: int) -> socket.socket:
    """A TCP connection to ``host:port`` from local address ``source`` (``bound_socket``), ready
    for ``loop.create_connection(sock=...)``."""
    sock = bound_socket(source)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock
