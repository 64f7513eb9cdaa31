"""The links between a local cluster's DCs, through fault-injecting proxies (linkproxy.py).

One proxy port per directed link ``a>b``: DC ``a``'s nats-server has its route to ``b`` at that
port, which forwards to ``b``'s route port. Every route between nats-servers passes a proxy only
if no server learns another's real route address: nats-server gossips each server's cluster
``advertise`` address and dials the addresses it learns (implicit routes), which would go around
the proxies. So each server advertises :data:`NOWHERE`, a port nothing listens on: an implicit
route to it fails at once and, as nats-server does not retry discovered routes
(``connect_retries`` 0), is never made (tests/test_links.py checks /routez).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

import msgspec

from firebreak.config import Config
from firebreak.errors import BadRequest, Unavailable
from firebreak.localcluster.linkfaults import LinkFault
from firebreak.localcluster.linkproxy import Listen, Plan, link_name
from firebreak.localcluster.processes import free_ports, open_log

#: The route address every proxied nats-server advertises: port 1 on loopback, which only root
#: could listen on and nothing does, so a route dialled there is refused at once.
NOWHERE = "127.0.0.1:1"


class LinkProxies:
    """The proxy process of one local cluster, and the faults of its links."""

    def __init__(self, config: Config, default: LinkFault) -> None:
        self._config = config
        names = [dc.name for dc in config.dcs]
        self.pairs = [(a, b) for a in names for b in names if a != b]
        ports = free_ports(len(self.pairs))
        self._listen = [
            Listen(
                src=a,
                dst=b,
                port=port,
                target_host=config.dc(b).host,
                target_port=config.dc(b).cluster_port,
            )
            for (a, b), port in zip(self.pairs, ports, strict=True)
        ]
        self._default = default.check()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def routes(self, dc: str) -> dict[str, str]:
        """DC ``dc``'s route to each other DC: the ``host:port`` of the proxy on that link."""
        return {x.dst: f"{x.host}:{x.port}" for x in self._listen if x.src == dc}

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        log = open_log(self._config.data_dir / "links.log", "starting the link proxies")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "firebreak.localcluster.linkproxy"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        os.close(log)
        faults = {link_name(a, b): self._default for a, b in self.pairs}
        plan = Plan(links=self._listen, faults=faults)
        self._call_line(msgspec.json.encode(plan))

    def _call_line(self, line: bytes) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise Unavailable("the link proxies are not running", code="no_link_proxies")
        with self._lock:
            try:
                proc.stdin.write(line + b"\n")
                proc.stdin.flush()
                answer = proc.stdout.readline()
            except (BrokenPipeError, ValueError) as exc:
                raise Unavailable(f"the link proxies exited: {exc}", code="no_link_proxies") from exc
        if not answer:
            raise Unavailable(
                f"the link proxies exited (see {self._config.data_dir / 'links.log'})", code="no_link_proxies"
            )
        decoded: dict[str, Any] = msgspec.json.decode(answer)
        if "error" in decoded:
            raise BadRequest(str(decoded["error"]), code="invalid_link")
        result: dict[str, Any] = decoded["ok"]
        return result

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._call_line(msgspec.json.encode(request))

    def status(self) -> dict[str, Any]:
        """Each link's fault, the bytes it carried, and the proxy's connections (linkproxy.py)."""
        return self.call({"action": "status"})

    def set(self, links: list[tuple[str, str]], fault: LinkFault) -> dict[str, Any]:
        fault.check()
        names = [link_name(a, b) for a, b in links]
        return self.call({"action": "set", "links": names, "fault": msgspec.to_builtins(fault)})

    def of_dc(self, dc: str, to: str | None = None) -> list[tuple[str, str]]:
        """Both directions of every link between ``dc`` and the other DCs (or only ``to``)."""
        self._config.dc(dc)
        if to is not None:
            self._config.dc(to)
            if to == dc:
                raise BadRequest("a DC has no link to itself", code="invalid_link")
        return [(a, b) for a, b in self.pairs if dc in (a, b) and (to is None or to in (a, b))]

    def set_dc(self, dc: str, fault: LinkFault, to: str | None = None) -> dict[str, Any]:
        return self.set(self.of_dc(dc, to), fault)

    @property
    def default(self) -> LinkFault:
        """The fault every link started with (what a heal restores)."""
        return self._default

    def cuts(self) -> list[str]:
        """The pairs of DCs with a cut link between them, as ``a-b``."""
        return sorted({"-".join(sorted(k.split(">"))) for k, f in self.faults().items() if f.cut})

    def faults(self) -> dict[str, LinkFault]:
        return msgspec.convert(self.status()["faults"], dict[str, LinkFault])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
