"""``firebreak up --with-taxi``: the demo site starts beside the cluster, registered with the
provider, and stops with it, even when ``up`` is killed; a taken taxi port is refused before
anything starts."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from firebreak.config import Config
from firebreak.config_file import dump_config
from firebreak.localcluster.processes import free_ports
from tests.helpers import cluster_config, eventually, read_until, run_cli


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def _up_with_taxi(tmp_path: Path) -> tuple[Config, int, asyncio.subprocess.Process]:
    """``up --with-taxi`` on a fresh config and a free site port, its output on a pipe."""
    config = cluster_config(tmp_path / "data")
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    port = free_ports(1)[0]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firebreak.entrypoints.cli", "up", "--config", str(path),
        "--with-taxi", "--taxi-port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    return config, port, proc


async def test_up_with_taxi_registers_and_runs_the_site_and_stops_it(tmp_path: Path) -> None:
    config, port, proc = await _up_with_taxi(tmp_path)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await read_until(proc.stdout, "Firebreak Taxi", 120, seen)
        assert any(f"http://127.0.0.1:{port}/" in line for line in seen), seen
        async with httpx.AsyncClient() as http:
            login = await http.get(f"http://127.0.0.1:{port}/login")
        assert login.status_code == 303
        target = httpx.URL(login.headers["location"])
        assert any(str(target).startswith(dc.http_url + "/oauth/authorize?") for dc in config.dcs)
        assert target.params["client_id"] == "firebreak-taxi"
        assert target.params["redirect_uri"] == f"http://127.0.0.1:{port}/callback"
        proc.send_signal(signal.SIGINT)
        await read_until(proc.stdout, "stopped; data kept.", 60, seen)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert not _port_open(port), "the taxi site stopped with the cluster"
    assert (config.data_dir / "taxi" / "taxi.sqlite").is_file(), "its database is kept"


async def test_up_refuses_a_taken_taxi_port_before_starting_anything(tmp_path: Path) -> None:
    config = cluster_config(tmp_path / "data")
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        code, out = await run_cli("up", "--config", str(path), "--with-taxi", "--taxi-port", str(taken))
    assert code != 0 and f"port {taken}" in out and "taxi site" in out and "Nothing was started" in out, out
    assert not (config.data_dir / "dc1").exists(), "no process was started"


# Slow set: a cluster and the site (~20 s).
@pytest.mark.slow
async def test_up_killed_with_sigkill_leaves_neither_the_cluster_nor_the_site_running(tmp_path: Path) -> None:
    config, port, proc = await _up_with_taxi(tmp_path)
    assert proc.stdout is not None
    ports = [port, *(dc.http_port for dc in config.dcs), *(dc.nats_port for dc in config.dcs)]
    seen: list[str] = []
    try:
        await read_until(proc.stdout, "Firebreak Taxi", 120, seen)
        assert all(_port_open(p) for p in ports), "the site, the gateways and the nats-servers listen"
        proc.kill()
        await proc.wait()

        async def all_closed() -> bool:
            return not any(_port_open(p) for p in ports)

        await eventually(all_closed, within_s=15, what="every port of the killed up closed")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
