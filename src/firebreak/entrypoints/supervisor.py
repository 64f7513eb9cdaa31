"""``firebreak up``: runs a local cluster in the foreground and lets it be operated while it runs.

Before starting anything it checks that every port is free (preflight.py). Then it starts the
DCs, prints their URLs, reports any process that dies without being asked, and serves the control
socket (control.py) through which ``firebreak dc ...`` and the gateways' ops API stop, start,
burn, rebuild and evacuate one DC and read the cluster's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec

from firebreak.config import Config
from firebreak.entrypoints import control, dcops, link_ops, preflight
from firebreak.entrypoints.taxi_site import TaxiSite, register
from firebreak.errors import BadRequest, ConfigError, Unavailable
from firebreak.localcluster import LocalCluster, netns
from firebreak.localcluster.layouts import on_sites
from firebreak.localcluster.linkfaults import LinkFault
from firebreak.tasks import cancel_all

#: How long ``dc start``/``dc rebuild`` wait (when asked to) for the DC to serve again.
START_WITHIN_S = 180.0


class Supervisor:
    """The actions of ``firebreak dc`` on a :class:`LocalCluster`, one at a time."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self._lock = asyncio.Lock()
        #: Exits already reported, so each is printed once.
        self._reported: set[tuple[str, str, int]] = set()

    async def start(self) -> None:
        """Starts every DC (no action runs meanwhile)."""
        async with self._lock:
            await self.cluster.start()

    def _kinds(self) -> tuple[tuple[str, dict[str, subprocess.Popen[bytes]]], ...]:
        return (("nats-server", self.cluster.nats), ("gateway", self.cluster.gateways))

    def processes(self) -> dict[str, dict[str, dcops.Process]]:
        """Each DC's processes: ``nats-server``, ``gateway``, and ``gateway 2``... where the DC runs
        several gateway processes."""
        out: dict[str, dict[str, dcops.Process]] = {}
        for dc in self.cluster.config.dcs:
            out[dc.name] = {}
            for kind, procs in self._kinds():
                out[dc.name][kind] = _state(procs.get(dc.name))
            for process in range(2, dc.gateways + 1):
                out[dc.name][f"gateway {process}"] = _state(self.cluster.more_gateways.get(dc.label(process)))
        return out

    def unexpected_exits(self) -> list[str]:
        """A line for each process that died since the last call without being asked to."""
        lines = []
        # A DC's further gateway processes are named "<dc>#<n>" (config.DCConfig.label).
        for kind, procs in (*self._kinds(), ("gateway", self.cluster.more_gateways)):
            for label, proc in procs.items():
                code = proc.poll()
                name = label.partition("#")[0]
                if code is not None and (kind, label, proc.pid) not in self._reported:
                    self._reported.add((kind, label, proc.pid))
                    logs = self.cluster.dc_dir(name)
                    lines.append(
                        f"warning: {kind} {label} exited with {code} (see {logs}/*.log). "
                        f"'firebreak dc status' shows the cluster; 'firebreak dc start {name}' brings it back"
                    )
        return lines

    async def status(self) -> dcops.ClusterStatus:
        data = {d.name: (self.cluster.dc_dir(d.name) / "nats").is_dir() for d in self.cluster.config.dcs}
        return await dcops.status(self.cluster.config, self.processes(), data)

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One control request: ``status``, or an action of control.DC_ACTIONS on ``dc``."""
        action = request.get("action")
        if action == "status":
            result: dict[str, Any] = msgspec.to_builtins(await self.status())
            return result
        if action not in control.DC_ACTIONS:
            raise BadRequest(f"unknown action {action!r}", code="unknown_action")
        name = str(request.get("dc"))
        self.cluster.config.dc(name)  # a clear error for an unknown DC
        async with self._lock:
            return await self._act(str(action), name, request)

    async def _act(self, action: str, name: str, request: dict[str, Any]) -> dict[str, Any]:
        wait = bool(request.get("wait", True))
        cluster = self.cluster
        if action == "evacuate":
            return await dcops.evacuate(cluster.config, name)
        if action in control.LINK_ACTIONS:
            return link_ops.act(cluster, action, name, request)
        if action == "stop":
            # SIGTERM waits up to 10 s per process: off the event loop, which keeps serving.
            await asyncio.to_thread(cluster.stop_dc, name)
        if action in ("burn", "rebuild"):
            await asyncio.to_thread(cluster.kill, name, burn=True)
        if action in ("start", "rebuild"):
            cluster.start_dc(name)
            if wait:
                await cluster.wait_ready([name], within_s=START_WITHIN_S)
        return {"dc": name, "action": action, "processes": msgspec.to_builtins(self.processes()[name])}


def _state(proc: subprocess.Popen[bytes] | None) -> dcops.Process:
    if proc is None:
        return dcops.Process("stopped")
    if proc.poll() is None:
        return dcops.Process("running", pid=proc.pid)
    return dcops.Process("exited", pid=proc.pid, exit_code=proc.returncode)


def _print(*lines: str, err: bool = False) -> None:
    for line in lines:
        print(line, file=sys.stderr if err else sys.stdout, flush=True)


def _ready(config: Config, controllable: bool, sock: Path) -> None:
    for dc in config.dcs:
        _print(f"  {dc.name}: http {dc.http_url}  websocket {dc.ws_url}  nats {dc.nats_url}")
        if dc.process_ports:
            own = [dc.process_url(k) for k in range(1, dc.gateways + 1)]
            _print(f"    its {dc.gateways} gateway processes, each alone: {'  '.join(str(u) for u in own)}")
    _print(f"API docs: {config.dcs[0].http_url}/docs   logs: {config.data_dir}/<dc>/*.log")
    if not controllable:
        _print(f"warning: 'firebreak dc' is off: the data folder's path is too long for {sock}", err=True)
    else:
        _print("operate it with: ./firebreak dc status | stop | start | burn | rebuild | evacuate DC")
    _print("ready. Chat with: ./firebreak chat --user NAME [--register]   (Ctrl-C stops the cluster)")


async def _start_taxi(config: Config, taxi: TaxiSite) -> None:
    """Registers the demo site with the provider and starts it; a failure is reported, and the
    cluster keeps running without it."""
    try:
        taxi.start(await register(config, taxi.url))
        await taxi.wait_ready()
    except Unavailable as exc:
        _print(f"warning: the taxi site did not start: {exc.message}", err=True)
        return
    _print(f"Firebreak Taxi (signs in with Firebreak): {taxi.url}/   log: {taxi.folder}/taxi.log")


async def up(
    config: Config, taxi_port: int | None = None, *, isolated: bool = False, links: LinkFault | None = None
) -> int:
    """Runs the local cluster until SIGINT/SIGTERM; refuses before starting anything when it cannot.
    With ``taxi_port``, the demo site Firebreak Taxi runs beside it on that port; ``isolated``:
    each DC in its own network namespace and address (localcluster/netns.py); ``links``: every
    route between DCs through a proxy whose links start with that fault (localcluster/links.py)."""
    sock = control.socket_path(config)
    sites = None
    if isolated:
        why = netns.unavailable()
        if why is not None:
            raise ConfigError(f"cannot start isolated DCs: {why}")
        sites = netns.Sites.plan(tuple(dc.name for dc in config.dcs))
        config = on_sites(config, sites)
    extra = (("taxi site", taxi_port),) if taxi_port is not None else ()
    preflight.check(config, sock, extra, ports=sites is None)
    if links is not None and sites is not None:
        raise ConfigError("link proxies run on loopback: use them without --isolated-dcs")
    cluster = LocalCluster(config, sites=sites, links=links)
    taxi = TaxiSite(config, taxi_port, watch=cluster.watch) if taxi_port is not None else None
    supervisor = Supervisor(cluster)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _print(f"starting {len(config.dcs)} DCs, data in {config.data_dir.resolve()} ...")
    server = None
    try:
        # Served from the start, so 'firebreak dc status' shows a cluster that is still starting.
        server = await control.serve(sock, supervisor.handle)
        # Ctrl-C while the cluster starts stops it at once rather than after it is ready.
        starting = asyncio.create_task(supervisor.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not starting.done():
            if await cancel_all([starting]):
                _print("warning: the start would not stop; stopping what it started", err=True)
        else:
            starting.result()  # a start that failed raises here
            _ready(config, server is not None, sock)
            if taxi is not None:
                await _start_taxi(config, taxi)
        taxi_reported = False
        while not stop.is_set():
            _print(*supervisor.unexpected_exits(), err=True)
            if taxi is not None and taxi.exited() is not None and not taxi_reported:
                taxi_reported = True
                _print(
                    f"warning: the taxi site exited with {taxi.exited()} (see {taxi.folder}/taxi.log)",
                    err=True,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        _print("stopping ...")
        if server is not None:
            server.close()
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()
        if taxi is not None:
            taxi.stop()
        cluster.stop()
    _print("stopped; data kept.")
    return 0
