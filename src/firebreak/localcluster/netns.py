"""Isolated DCs on one machine: each DC in its own Linux network namespace, with its own address.

On plain loopback every DC shares one interface, so nothing can cut one DC off while it keeps
running. Here each DC's nats-server and gateway run in a namespace of their own, joined to the
other DCs and to this machine by a veth pair on one bridge::

    root namespace: bridge fb<tag>br 10.87.<k>.254/24  (clients, tests, drills, the supervisor)
      |- veth fb<tag>1 <-> eth0 in namespace fb<tag>dc1, 10.87.<k>.1
      |- veth fb<tag>2 <-> eth0 in namespace fb<tag>dc2, 10.87.<k>.2
      '- veth fb<tag>3 <-> eth0 in namespace fb<tag>dc3, 10.87.<k>.3

Traffic between DCs crosses real interfaces. A cut between two DCs is a pair of blackhole routes,
one in each DC's namespace: packets between them vanish as on a cut fibre (no error, no reset),
while both DCs stay reachable from this machine, so a cut-off DC keeps its clients attached.
This kernel has no ``netem`` queueing discipline, so delay and loss are not made here.

Needs root (creating namespaces and interfaces); :func:`unavailable` says why it cannot run.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass

from firebreak.errors import ConfigError

#: The private range the DCs' addresses are taken from: one /24 per cluster.
SUBNET_PREFIX = "10.87"
_IP = "ip"


def unavailable() -> str | None:
    """Why isolated DCs cannot be made on this machine, or None if they can."""
    if shutil.which(_IP) is None:
        return "isolated DCs need the 'ip' command (iproute2)"
    if os.geteuid() != 0:
        return "isolated DCs need root (they create network namespaces and interfaces)"
    probe = f"fbprobe{secrets.token_hex(3)}"
    made = subprocess.run([_IP, "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"network namespaces are not permitted here: {made.stderr.strip()}"
    subprocess.run([_IP, "netns", "del", probe], capture_output=True)
    return None


def _run(*args: str) -> None:
    done = subprocess.run([_IP, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"'ip {' '.join(args)}' failed: {done.stderr.strip()}")


def _free_subnet() -> int:
    """A third octet whose 10.87.<k>.0/24 no interface of this machine uses."""
    shown = subprocess.run([_IP, "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    used = {int(m.group(1)) for m in re.finditer(rf"inet {re.escape(SUBNET_PREFIX)}\.(\d+)\.", shown)}
    free = [k for k in range(1, 255) if k not in used]
    if not free:
        raise ConfigError(f"no free {SUBNET_PREFIX}.<k>.0/24 subnet for isolated DCs")
    return free[secrets.randbelow(len(free))]


@dataclass(frozen=True)
class Sites:
    """The namespaces, interfaces and addresses of one isolated cluster (names fit IFNAMSIZ)."""

    tag: str
    subnet: int
    dcs: tuple[str, ...]

    @classmethod
    def plan(cls, dcs: tuple[str, ...]) -> Sites:
        return cls(tag=secrets.token_hex(2), subnet=_free_subnet(), dcs=dcs)

    def namespace(self, dc: str) -> str:
        return f"fb{self.tag}{dc}"

    def address(self, dc: str) -> str:
        return f"{SUBNET_PREFIX}.{self.subnet}.{self.dcs.index(dc) + 1}"

    @property
    def bridge(self) -> str:
        return f"fb{self.tag}br"

    def _veth(self, dc: str) -> str:
        return f"fb{self.tag}{self.dcs.index(dc) + 1}"

    def wrap(self, dc: str, argv: list[str]) -> list[str]:
        """``argv`` run inside the DC's namespace (``ip netns exec`` execs it: same pid)."""
        return [_IP, "netns", "exec", self.namespace(dc), *argv]

    def create(self) -> None:
        """Makes the bridge, the namespaces and their links; on failure removes what it made."""
        try:
            _run("link", "add", self.bridge, "type", "bridge")
            _run("addr", "add", f"{SUBNET_PREFIX}.{self.subnet}.254/24", "dev", self.bridge)
            _run("link", "set", self.bridge, "up")
            for dc in self.dcs:
                ns, veth = self.namespace(dc), self._veth(dc)
                _run("netns", "add", ns)
                _run("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _run("link", "set", veth, "master", self.bridge, "up")
                _run("-n", ns, "addr", "add", f"{self.address(dc)}/24", "dev", "eth0")
                _run("-n", ns, "link", "set", "eth0", "up")
                _run("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.destroy()
            raise

    def destroy(self) -> None:
        """Removes the namespaces and the bridge (their veths go with them). Idempotent; the
        processes inside must have been stopped first."""
        for dc in self.dcs:
            subprocess.run([_IP, "netns", "del", self.namespace(dc)], capture_output=True)
        subprocess.run([_IP, "link", "del", self.bridge], capture_output=True)

    def cut(self, a: str, b: str) -> None:
        """Cuts the link between DCs ``a`` and ``b`` (both directions); each stays reachable from
        this machine."""
        self._route("replace", a, b)

    def heal(self, a: str, b: str) -> None:
        """Restores the link between ``a`` and ``b``; healing a link that is not cut does nothing."""
        self._route("del", a, b, check=False)

    def isolate(self, dc: str) -> None:
        """Cuts ``dc`` off from every other DC (a partition: ``dc`` is the minority)."""
        for other in self.dcs:
            if other != dc:
                self.cut(dc, other)

    def rejoin(self, dc: str) -> None:
        for other in self.dcs:
            if other != dc:
                self.heal(dc, other)

    def cuts(self) -> set[frozenset[str]]:
        """The links cut now, read back from the namespaces' routes."""
        out: set[frozenset[str]] = set()
        for dc in self.dcs:
            shown = subprocess.run(
                [_IP, "-n", self.namespace(dc), "route", "show", "type", "blackhole"],
                capture_output=True,
                text=True,
            ).stdout
            for other in self.dcs:
                if other != dc and re.search(rf"\b{re.escape(self.address(other))}\b", shown):
                    out.add(frozenset((dc, other)))
        return out

    def _route(self, verb: str, a: str, b: str, *, check: bool = True) -> None:
        for here, there in ((a, b), (b, a)):
            ipaddress.ip_address(self.address(there))  # a bad DC name fails before any change
            args = ("-n", self.namespace(here), "route", verb, "blackhole", f"{self.address(there)}/32")
            if check:
                _run(*args)
            else:
                subprocess.run([_IP, *args], capture_output=True)
