"""Local clusters listen on ports no outgoing connection can take before the listener binds."""

from __future__ import annotations

import socket

from firebreak.localcluster import free_ports
from firebreak.localcluster.processes import LISTEN_PORTS


def _ephemeral() -> range:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low, high = f.read().split()
    return range(int(low), int(high) + 1)


def test_ports_are_outside_the_ephemeral_range_distinct_and_bindable() -> None:
    ports = free_ports(15)
    assert len(set(ports)) == 15
    assert not [p for p in ports if p in _ephemeral()], ports
    assert all(p in LISTEN_PORTS for p in ports), ports
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_held_port_is_never_given() -> None:
    # An outgoing connection's port is in the ephemeral range and a listener's is skipped: hold
    # many listeners in the chosen range and none of them may come back.
    held = []
    try:
        for port in LISTEN_PORTS[:2000]:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            s.listen()
            held.append(s)
        taken = {s.getsockname()[1] for s in held}
        for _ in range(20):
            assert not taken & set(free_ports(12))
    finally:
        for s in held:
            s.close()


def test_one_process_never_gives_the_same_port_twice_while_it_has_others() -> None:
    # A burned DC's ports are free while it is down; a later cluster must not take them.
    first = set(free_ports(100))
    assert not first & set(free_ports(100))
