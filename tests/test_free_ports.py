"""Local clusters listen on ports no outgoing connection can take before the listener binds."""

from __future__ import annotations

import socket
import subprocess
import sys

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


_HOLDER = """
import sys
from firebreak.localcluster import free_ports
print(" ".join(map(str, free_ports(int(sys.argv[1])))), flush=True)
sys.stdin.read()  # holds its claims until told to exit
"""


def test_another_process_never_gets_a_port_this_one_gave() -> None:
    # Two processes choosing at once (two test runs, a test run and `firebreak up`): neither has
    # bound its ports yet, so only the claims keep them apart. The other takes a quarter of the
    # range, so without claims this process would pick some of them at once.
    quarter = len(LISTEN_PORTS) // 4
    other, theirs = _holder(quarter)
    try:
        assert len(theirs) == quarter
        for _ in range(10):
            assert not theirs & set(free_ports(20))
    finally:
        other.communicate("", timeout=30)
    # Its claims ended with it, so a process that takes another quarter gets some of its ports.
    again, after = _holder(quarter)
    again.communicate("", timeout=30)
    assert theirs & after


def _holder(n: int) -> tuple[subprocess.Popen[str], set[int]]:
    """A process that took ``n`` ports and holds them until its stdin closes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    return holder, {int(p) for p in holder.stdout.readline().split()}
