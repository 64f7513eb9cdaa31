"""`firebreak up` as a user runs it: prints URLs, serves, stops everything on Ctrl-C, keeps data."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from firebreak.config import Config
from firebreak.config_file import dump_config
from firebreak.errors import FirebreakError, Unauthorized
from firebreak.localcluster import LocalCluster
from firebreak.service.auth import Tokens
from tests.helpers import cluster_config, eventually, local_cluster, read_until, run_cli, spawn_up


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.asynccontextmanager
async def running_up(tmp_path: Path) -> AsyncIterator[tuple[Config, asyncio.subprocess.Process, list[str]]]:
    """``up`` on a fresh config, as a user starts it, with the lines it printed so far; killed at
    the end if it still runs."""
    config = cluster_config(tmp_path / "data")
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    proc = await spawn_up(path)
    try:
        yield config, proc, []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def ctrl_c(proc: asyncio.subprocess.Process, seen: list[str]) -> None:
    """Ctrl-C, then ``up`` must say it stopped and exit 0."""
    assert proc.stdout is not None
    proc.send_signal(signal.SIGINT)
    await read_until(proc.stdout, "stopped; data kept.", 30, seen)
    assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_up_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    async with running_up(tmp_path) as (config, proc, seen):
        assert proc.stdout is not None
        await read_until(proc.stdout, "ready.", 90, seen)
        for dc in config.dcs:
            assert any(dc.http_url in line for line in seen), f"{dc.name}'s URL is printed"
            async with httpx.AsyncClient() as http:
                assert (await http.get(dc.http_url + "/healthz")).json()["dc"] == dc.name
        await ctrl_c(proc, seen)
    for dc in config.dcs:
        assert not port_open(dc.nats_port) and not port_open(dc.http_port), f"{dc.name} still listening"
        kept = config.data_dir / dc.name
        assert (kept / "nats").is_dir() and (kept / "gateway").is_dir(), "data is kept"
        # Stopped by `up` itself (SIGTERM), not by the reaper's SIGKILL after it exited.
        assert "gateway stopped" in (kept / "gateway.log").read_text(), f"{dc.name}'s gateway stopped cleanly"


def test_tokens_expire_and_resist_tampering() -> None:
    tokens = Tokens(b"k" * 32, ttl_s=-1)
    token, _ = tokens.issue("u_1")
    with pytest.raises(Unauthorized) as expired:
        tokens.verify(token)
    assert expired.value.code == "token_expired"
    other_key = Tokens(b"x" * 32, ttl_s=60)
    with pytest.raises(Unauthorized) as forged:
        other_key.verify(Tokens(b"k" * 32, ttl_s=60).issue("u_1")[0])
    assert forged.value.code == "invalid_token"
    good = Tokens(b"k" * 32, ttl_s=60)
    assert good.verify(good.issue("u_2")[0]).user_id == "u_2"


def test_a_token_checked_before_still_expires_and_a_changed_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gateway remembers the tokens whose signature it checked (a socket's commands present the
    same one each time): the expiry is still checked at every use, and a token differing by one
    character from a remembered one is checked afresh."""
    tokens = Tokens(b"k" * 32, ttl_s=60)
    token, claims = tokens.issue("u_1")
    assert tokens.verify(token) == claims
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(Unauthorized) as refused:
        tokens.verify(forged)
    assert refused.value.code == "invalid_token"
    later = claims.expires_at + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthorized) as expired:
        tokens.verify(token)
    assert expired.value.code == "token_expired"


def test_nats_config_for_one_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from firebreak.entrypoints.cli import main

    config = cluster_config(tmp_path / "data")
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    assert main(["nats-config", "--dc", "dc2", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert 'server_name: "dc2"' in text and "sync_interval: always" in text
    assert text.count("nats-route://") == 2, "routes to the two other DCs"
    assert main(["nats-config", "--dc", "nowhere", "--config", str(path)]) == 2


async def test_ctrl_c_while_starting_stops_at_once(tmp_path: Path) -> None:
    """Ctrl-C before the DCs are ready stops what the start began, without waiting for it."""
    async with running_up(tmp_path) as (config, proc, seen):
        last_log = config.data_dir / config.dcs[-1].name / "gateway.log"

        async def every_process_started() -> bool:
            # The last gateway's log is opened as it is started; it serves seconds later.
            return last_log.exists()

        assert proc.stdout is not None
        await read_until(proc.stdout, "starting", 30, seen)
        await eventually(every_process_started, 60, "the last gateway to be started")
        await ctrl_c(proc, seen)
    assert not any("ready." in line for line in seen), f"the start ran on to the end: {seen}"
    for dc in config.dcs:
        assert not port_open(dc.nats_port) and not port_open(dc.http_port), f"{dc.name} still listening"


async def test_a_failed_start_leaves_no_process_behind(tmp_path: Path) -> None:

    config = cluster_config(tmp_path / "data")
    cluster = local_cluster(config)
    # Occupy dc2's HTTP port, so its gateway cannot start and the cluster never becomes ready.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", config.dcs[1].http_port))
    blocker.listen()
    try:
        with pytest.raises(FirebreakError):
            await cluster.start(within_s=30)
    finally:
        blocker.close()
    assert not cluster.nats and not cluster.gateways
    for dc in config.dcs:
        assert not port_open(dc.nats_port), f"{dc.name}'s nats-server was left running"


async def test_local_processes_share_the_machine_as_documented(cluster: LocalCluster) -> None:
    """cluster.py: every thread of every local nats-server and gateway runs under SCHED_BATCH,
    and each nats-server's Go scheduler gets its share of the cores."""
    _check_sharing(cluster)


def _check_sharing(cluster: LocalCluster) -> None:
    processes = [*cluster.nats.values(), *cluster.gateways.values()]
    assert len(processes) == 2 * len(cluster.config.dcs)
    for proc in processes:
        threads = [int(tid) for tid in os.listdir(f"/proc/{proc.pid}/task")]
        assert threads and all(os.sched_getscheduler(tid) == os.SCHED_BATCH for tid in threads)
    share = str(max(1, (os.cpu_count() or 1) // len(cluster.config.dcs)))
    for proc in cluster.nats.values():
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        assert f"GOMAXPROCS={share}".encode() in environ


def test_setup_runs_on_the_distributions_python_when_there_is_one() -> None:
    """scripts/bootstrap.sh builds .venv from the distribution's python3 (3.11 or newer, with venv)
    when there is one, else from python3 on PATH; $PYTHON overrides both. The suite itself runs in
    that .venv, so its base interpreter must be the chosen one (docs/DECISIONS.md)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "bootstrap.sh"
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    chosen = subprocess.run(
        [str(script), "--print-python"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    distribution = Path("/usr/bin/python3")
    qualifies = (
        distribution.exists()
        and subprocess.run(
            [str(distribution), "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"],
            capture_output=True,
        ).returncode
        == 0
    )
    assert chosen == (str(distribution) if qualifies else shutil.which("python3"))
    if "PYTHON" not in os.environ:
        base = subprocess.run(
            [chosen, "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert sys.base_prefix == base, f"the suite runs on {sys.base_prefix}, set-up chose {chosen}"
    overridden = subprocess.run(
        [str(script), "--print-python"],
        env={**env, "PYTHON": "/opt/other/python3"},
        capture_output=True,
        text=True,
    )
    assert overridden.stdout.strip() == "/opt/other/python3"


async def test_up_refuses_a_taken_port_before_starting_anything(tmp_path: Path) -> None:
    """The user's case: another cluster holds the ports. `up` says which port, whose it is, that
    another cluster may run, and exits non-zero without starting a single process."""
    config = cluster_config(tmp_path / "data")
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    taken = config.dcs[1].http_port
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", taken))
        blocker.listen()
        code, out = await run_cli("up", "--config", str(path))
    assert code != 0, out
    assert (
        f"port {taken}" in out and "dc2 gateway HTTP" in out and "another firebreak cluster" in out.lower()
    ), out
    assert "ready." not in out and "Nothing was started" in out, out
    assert not (config.data_dir / "dc1").exists(), "no process was started (none has a log)"
    for dc in config.dcs:
        assert not port_open(dc.nats_port), f"{dc.name}'s nats-server was started"


async def test_dc_says_clearly_when_no_up_runs(tmp_path: Path) -> None:
    code, out = await run_cli("dc", "status", "--data-dir", str(tmp_path / "nothing"))
    assert code != 0 and "no 'firebreak up' runs" in out, out


STAMP = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[.,]\d{3}"


def test_each_start_rotates_the_log_and_stamps_what_stops_a_gateway(tmp_path: Path) -> None:
    """A new start keeps the previous run's log as gateway.log.1 and begins with a timestamped
    line; an error that stops the gateway is logged with its time (a config file that does not
    name its DC stops it at once)."""
    import dataclasses
    import re

    cluster = local_cluster(cluster_config(tmp_path / "data"))
    renamed = tuple(dataclasses.replace(dc, name=f"elsewhere{i}") for i, dc in enumerate(cluster.config.dcs))
    cluster.config_path.write_text(dump_config(dataclasses.replace(cluster.config, dcs=renamed)))
    log = cluster.dc_dir("dc1") / "gateway.log"
    for _ in range(2):
        cluster.start_gateway("dc1")
        assert cluster.gateways["dc1"].wait(timeout=60) == 1
    previous, current = log.with_name("gateway.log.1").read_text(), log.read_text()
    for text in (previous, current):
        lines = text.splitlines()
        assert re.match(STAMP + r".* firebreak: starting gateway dc1$", lines[0]), lines
        stopped = [i for i, line in enumerate(lines) if "gateway dc1 stopped by an error" in line]
        assert len(stopped) == 1 and re.match(STAMP, lines[stopped[0]]), lines
        assert "Traceback" in lines[stopped[0] + 1] and "no DC named 'dc1'" in text, lines
        assert text.count("Traceback") == 1, "each log holds one run"


async def test_nats_runs_one_dcs_server_from_the_config(tmp_path: Path) -> None:
    """`firebreak nats --dc NAME` (real sites): writes the DC's nats.conf, also after a burn
    deleted it, and runs the nats-server installed with Firebreak."""
    config = cluster_config(tmp_path / "data")
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firebreak.entrypoints.cli", "nats", "--dc", "dc3", "--config", str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:

        async def listening() -> bool:
            assert proc.returncode is None, "nats-server exited"
            return port_open(config.dc("dc3").nats_port)

        await eventually(listening, within_s=30, what="dc3's nats-server to listen")
        assert 'server_name: "dc3"' in (config.data_dir / "dc3" / "nats.conf").read_text()
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
