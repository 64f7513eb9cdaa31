"""Checks ``firebreak up`` makes before it starts anything: every port it needs is free, and no
other ``up`` serves the same data folder."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from firebreak.config import Config, DCConfig
from firebreak.errors import Conflict


def _roles(dc: DCConfig) -> list[tuple[str, int]]:
    return [
        ("nats-server client", dc.nats_port),
        ("nats-server route", dc.cluster_port),
        ("nats-server monitoring", dc.monitor_port),
        ("gateway HTTP", dc.http_port),
        *((f"gateway process {k} HTTP", port) for k, port in enumerate(dc.process_ports, start=1)),
    ]


def _bind_problem(address: str, port: int) -> str | None:
    """Why ``address:port`` cannot be listened on, or None when it can."""
    with socket.socket() as s:
        # Like nats-server and uvicorn: a port whose last connections linger in TIME_WAIT (a
        # cluster just stopped) is free to listen on; only a live listener or bind counts as taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as exc:
            return "in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
    return None


def busy_ports(config: Config) -> list[str]:
    """One line per port of the layout that cannot be listened on, naming its DC and role."""
    problems = []
    for dc in config.dcs:
        address = dc.bind or dc.host
        for role, port in _roles(dc):
            why = _bind_problem(address, port)
            if why is not None:
                problems.append(f"port {port} on {address} ({dc.name} {role}): {why}")
    return problems


def supervisor_alive(path: Path) -> bool:
    """Whether a ``firebreak up`` answers on the control socket at ``path``."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def check(
    config: Config, control_socket: Path, extra_ports: tuple[tuple[str, int], ...] = (), *, ports: bool = True
) -> None:
    """Raises a clear :class:`Conflict` when ``up`` could not start here; starts nothing itself.
    ``extra_ports``: (role, port) on 127.0.0.1 of what starts beside the cluster (the taxi site);
    ``ports=False`` skips the DCs' own ports (isolated DCs listen in namespaces made at start)."""
    if supervisor_alive(control_socket):
        raise Conflict(
            f"a 'firebreak up' already runs this cluster (data in {config.data_dir.resolve()}): "
            "use 'firebreak dc status' to see it; nothing was started",
            code="already_running",
        )
    problems = busy_ports(config) if ports else []
    for role, port in extra_ports:
        why = _bind_problem("127.0.0.1", port)
        if why is not None:
            problems.append(f"port {port} on 127.0.0.1 ({role}): {why}")
    if problems:
        raise Conflict(
            "cannot start: "
            + "; ".join(problems)
            + ". Another Firebreak cluster (or another program) may be running: stop it, or give "
            "this one other ports with --config. Nothing was started.",
            code="port_in_use",
        )
