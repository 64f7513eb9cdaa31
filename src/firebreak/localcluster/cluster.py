"""A local multi-DC cluster on one machine: one nats-server and one or more gateway processes per DC.

Used by ``firebreak up``, by the tests and by drills. Each DC's files live in
``<data_dir>/<dc>/`` (``nats/`` for the JetStream store, ``gateway/`` for the read model), so
burning a DC is: SIGKILL its processes and delete that folder.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from firebreak.config import Config, check_secrets
from firebreak.config_file import dump_config
from firebreak.errors import Unavailable
from firebreak.localcluster.linkfaults import LinkFault
from firebreak.localcluster.links import NOWHERE, LinkProxies
from firebreak.localcluster.netns import Sites
from firebreak.localcluster.processes import (
    gateway_log,
    kill_all,
    local_scheduling,
    nats_environment,
    nats_server_binary,
    open_log,
    stop_all,
    write_nats_conf,
)
from firebreak.localcluster.readiness import NotReady, every_process_ready
from firebreak.localcluster.reaper import Reaper
from firebreak.private_files import PRIVATE_UMASK, make_private_dir, write_private


class LocalCluster:
    """Starts, stops, burns and rebuilds DCs as local processes.

    With ``sites`` each DC runs in its own network namespace (localcluster/netns.py), made by
    :meth:`start` and removed by :meth:`stop`. With ``links`` every route between the DCs passes a
    fault-injecting proxy (localcluster/links.py) whose links start with that fault; the proxies
    are the network, so they outlive the DCs' fires and go only with :meth:`stop`.
    """

    def __init__(
        self,
        config: Config,
        *,
        quiet: bool = True,
        sites: Sites | None = None,
        links: LinkFault | None = None,
    ) -> None:
        check_secrets(config)
        self.config = config
        self.sites = sites
        self.links = LinkProxies(config, links) if links is not None else None
        self._quiet = quiet
        self.nats: dict[str, subprocess.Popen[bytes]] = {}
        #: Each DC's first gateway process, by DC name.
        self.gateways: dict[str, subprocess.Popen[bytes]] = {}
        #: The other gateway processes of DCs that run several (config.DCConfig.gateways), by
        #: their label (``dc1#2``).
        self.more_gateways: dict[str, subprocess.Popen[bytes]] = {}
        #: Kills the processes if this one dies without stopping them (localcluster/reaper.py).
        self._reaper = Reaper()
        make_private_dir(config.data_dir)
        # The gateways read their secrets from here: 0600.
        self.config_path = config.data_dir / "cluster.toml"
        write_private(self.config_path, dump_config(config))

    def dc_dir(self, name: str) -> Path:
        return self.config.data_dir / name

    def _log(self, name: str, what: str, header: str) -> int | None:
        if self._quiet:
            return open_log(self.dc_dir(name) / f"{what}.log", header)
        return None

    def start_nats(self, name: str) -> None:
        proxied = None if self.links is None else (self.links.routes(name), NOWHERE)
        conf = write_nats_conf(self.config, self.config.dc(name), proxied=proxied)
        out = self._log(name, "nats", f"starting nats-server {name} ({conf})")
        try:
            self.nats[name] = subprocess.Popen(
                self._in_dc(name, [nats_server_binary(), "-c", str(conf)]),
                stdout=out,
                stderr=out,
                start_new_session=True,
                env=nats_environment(len(self.config.dcs)),
                preexec_fn=local_scheduling(),
                umask=PRIVATE_UMASK,  # its log store (every event) is private
            )
            self._reaper.watch(self.nats[name].pid)
        finally:
            if out is not None:
                os.close(out)

    def start_gateway(self, name: str) -> None:
        """Starts each of the DC's gateway processes that is not running."""
        dc = self.config.dc(name)
        for process in range(1, dc.gateways + 1):
            label = dc.label(process)
            procs = self.gateways if process == 1 else self.more_gateways
            if self.running(procs, label):
                continue
            out = self._log(name, gateway_log(process), f"starting gateway {label}")
            argv = [sys.executable, "-m", "firebreak.entrypoints.cli", "gateway", "--dc", name]
            argv += ["--process", str(process), "--config", str(self.config_path)]
            try:
                procs[label] = subprocess.Popen(
                    self._in_dc(name, argv),
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                    preexec_fn=local_scheduling(),
                    umask=PRIVATE_UMASK,  # its read model (password hashes, messages) is private
                )
                self._reaper.watch(procs[label].pid)
            finally:
                if out is not None:
                    os.close(out)

    def gateway_processes(self, name: str) -> dict[int, subprocess.Popen[bytes]]:
        """The DC's gateway processes started and not stopped, by number (1 first)."""
        dc = self.config.dc(name)
        found = {
            p: self.gateways.get(dc.label(p)) or self.more_gateways.get(dc.label(p))
            for p in range(1, dc.gateways + 1)
        }
        return {p: proc for p, proc in found.items() if proc is not None}

    def _pop_gateways(self, name: str) -> list[subprocess.Popen[bytes]]:
        procs = list(self.gateway_processes(name).values())
        self.gateways.pop(name, None)
        dc = self.config.dc(name)
        for process in range(2, dc.gateways + 1):
            self.more_gateways.pop(dc.label(process), None)
        return procs

    def _in_dc(self, name: str, argv: list[str]) -> list[str]:
        return argv if self.sites is None else self.sites.wrap(name, argv)

    def start_dc(self, name: str) -> None:
        """Starts whichever of the DC's processes is not running (its data, if any, is reused)."""
        if not self.running(self.nats, name):
            self.start_nats(name)
        self.start_gateway(name)

    @staticmethod
    def running(procs: dict[str, subprocess.Popen[bytes]], name: str) -> bool:
        proc = procs.get(name)
        return proc is not None and proc.poll() is None

    def stop_dc(self, name: str) -> None:
        """Stops the DC's gateway, then its nats-server (SIGTERM, then SIGKILL after 10 s); data kept."""
        nats = self.nats.pop(name, None)
        stop_all([*self._pop_gateways(name)])
        stop_all([nats] if nats is not None else [])

    async def start(self, within_s: float = 300.0) -> None:
        """Starts every DC and waits until all serve; on any failure stops what it started."""
        try:
            if self.sites is not None:
                self.sites.create()
            if self.links is not None:
                self.links.start()
            for dc in self.config.dcs:
                self.start_nats(dc.name)
            for dc in self.config.dcs:
                self.start_gateway(dc.name)
            await self.wait_ready(within_s=within_s)
            await self.spread_leaders()
        except BaseException:
            self.stop()
            raise

    async def wait_ready(self, names: list[str] | None = None, within_s: float = 300.0) -> None:
        """Waits until each named DC's gateway answers /healthz with every replica reader running."""
        names = names or [d.name for d in self.config.dcs]
        end = time.monotonic() + within_s
        # A connection per request, so that each may reach another of a DC's gateway processes.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=2.0, limits=no_reuse) as http:
            for name in names:
                dc = self.config.dc(name)
                exits = functools.partial(self._check_exits, name)
                try:
                    await every_process_ready(http, dc.http_url + "/healthz", dc.gateways, exits, end)
                except NotReady as exc:
                    tails = "".join(self.log_tail(name, gateway_log(p)) + "\n" for p in exc.unseen)
                    raise Unavailable(
                        f"DC {name} did not become ready in {within_s:.0f} s ({exc.waiting}); the log of"
                        f" each gateway process not ready ends:\n{tails}"
                    ) from None

    def _check_exits(self, name: str) -> None:
        """Raises if one of the DC's gateway processes has exited, quoting its log."""
        for process, proc in self.gateway_processes(name).items():
            if proc.poll() is not None:
                raise Unavailable(
                    f"gateway {self.config.dc(name).label(process)} exited with {proc.returncode};"
                    " its log ends:\n" + self.log_tail(name, gateway_log(process))
                )

    def log_tail(self, name: str, what: str, lines: int = 12) -> str:
        """The last lines of a DC's process log, quoted in errors: a caller may delete the folder
        (a test's or a bench's temporary one) before anyone reads the file."""
        path = self.dc_dir(name) / f"{what}.log"
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"  ({path} could not be read)"
        return "\n".join(f"  {line}" for line in tail) + f"\n  (from {path})"

    async def spread_leaders(self) -> None:
        """Moves stream leaders round-robin over the DCs, so no DC leads everything."""
        from firebreak.adapters import leadership  # local import: only the supervisor needs it

        await leadership.spread(self.config)

    def kill(self, name: str, *, burn: bool) -> None:
        """SIGKILLs the DC's processes; with ``burn`` also deletes its data folder (the disks burned)."""
        nats = self.nats.pop(name, None)
        kill_all([*self._pop_gateways(name), *([nats] if nats is not None else [])])
        if burn:
            shutil.rmtree(self.dc_dir(name), ignore_errors=True)

    def blackout(self) -> None:
        """Every DC loses power at the same moment: every process of every DC gets SIGKILL before
        any is waited for; the data stays. (A SIGKILL keeps what the kernel had not yet written
        to disk, which a real power cut loses: docs/FAILOVER.md.)"""
        kill_all([p for group in (self.gateways, self.more_gateways, self.nats) for p in group.values()])
        self.gateways.clear()
        self.more_gateways.clear()
        self.nats.clear()

    def stop_gateway(self, name: str) -> list[int]:
        """SIGTERMs only the DC's gateway processes (SIGKILL after 10 s); returns their exit codes."""
        procs = self._pop_gateways(name)
        stop_all(procs)
        return [proc.returncode for proc in procs]

    def kill_gateway(self, name: str) -> None:
        """SIGKILLs only the DC's gateway processes (its nats-server keeps running)."""
        kill_all(self._pop_gateways(name))

    def seed_from(self, name: str, source: str) -> None:
        """Gives burned DC ``name`` a copy of surviving DC ``source``'s log store.

        Needed when a majority of DCs burned: an empty node started under an old name bootstraps
        as if the cluster were new and never votes in the survivor's Raft groups, so no leader can
        be elected. A copy of the survivor's store makes it a full member again, and the two form
        a quorum. The survivor's nats-server is stopped cleanly for the copy (its gateway keeps
        serving reads from its read model meanwhile) and started again.
        """
        proc = self.nats.pop(source, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        target = self.dc_dir(name) / "nats"
        shutil.rmtree(target, ignore_errors=True)
        make_private_dir(target.parent)
        shutil.copytree(self.dc_dir(source) / "nats", target)
        self.start_nats(source)

    def watch(self, pid: int) -> None:
        """Kills the process group of ``pid`` (started with ``start_new_session``) with the
        cluster's if this process dies without stopping them: for a process started beside the
        cluster, such as the demo site. Its starter stops it before :meth:`stop`."""
        self._reaper.watch(pid)

    def stop(self) -> None:
        """Stops gateways, then nats-servers, politely (SIGTERM) and then firmly."""
        stop_all([*self.gateways.values(), *self.more_gateways.values()])
        stop_all(list(self.nats.values()))
        self.gateways.clear()
        self.more_gateways.clear()
        self.nats.clear()
        self._reaper.close()
        if self.links is not None:
            self.links.stop()
        if self.sites is not None:
            self.sites.destroy()
