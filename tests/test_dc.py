"""Operating a running `firebreak up` as a user does: `firebreak dc status|stop|start|burn|rebuild|
evacuate` and the same actions through a gateway's ops API, against one real `up` subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from firebreak.adapters import leadership
from firebreak.client import Client
from firebreak.config import Config
from firebreak.config_file import dump_config
from tests.helpers import cluster_config, eventually, read_until, spawn_up, stop_up

CLI = [sys.executable, "-m", "firebreak.entrypoints.cli"]


@dataclass
class Up:
    config: Config
    path: Path
    proc: asyncio.subprocess.Process
    seen: list[str] = field(default_factory=list)

    async def dc(self, *args: str) -> tuple[int, str]:
        """Runs ``firebreak dc ARGS --config ...``; returns its exit status and output."""
        proc = await asyncio.create_subprocess_exec(
            *CLI, "dc", *args, "--config", str(self.path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 240)
        return await proc.wait(), out.decode()

    async def status(self) -> dict[str, dict[str, Any]]:
        code, out = await self.dc("status", "--json")
        assert code == 0, out
        return {d["name"]: d for d in json.loads(out)["dcs"]}

    async def http(self, method: str, dc: str, path: str, token: bool = True) -> httpx.Response:
        headers = {"x-ops-token": self.config.secrets.ops_token} if token else {}
        async with httpx.AsyncClient(timeout=240) as http:
            return await http.request(method, self.config.dc(dc).http_url + path, headers=headers)


@pytest.fixture(scope="module")
async def up(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Up]:
    tmp = Path(tmp_path_factory.mktemp("dc"))
    config = cluster_config(tmp / "data")
    path = tmp / "cluster.toml"
    path.write_text(dump_config(config))
    proc = await spawn_up(path)
    assert proc.stdout is not None
    running = Up(config, path, proc)
    await read_until(proc.stdout, "ready.", 120, running.seen)

    async def keep_reading(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            running.seen.append(line.decode().rstrip())

    reader = asyncio.create_task(keep_reading(proc.stdout))
    try:
        yield running
    finally:
        await stop_up(proc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, 5)
    assert "stopped; data kept." in running.seen, running.seen[-10:]


async def serving(up: Up, name: str) -> None:
    """Waits until DC ``name`` serves and has applied everything the log holds."""

    async def caught_up() -> bool:
        dc = (await up.status())[name]
        return bool(dc["ready"] and dc["lag"] == 0)

    await eventually(caught_up, within_s=120, what=f"{name} to serve, caught up")


async def same_read_models(up: Up) -> None:
    async def same() -> bool:
        answers = [(await up.http("GET", d.name, "/internal/digest")).json() for d in up.config.dcs]
        return len({json.dumps([a["head"], a["digest"]], sort_keys=True) for a in answers}) == 1

    await eventually(same, within_s=60, what="every DC's read model to be identical")


async def chat(up: Up, via: str, tag: str) -> None:
    """Two users chat through DC ``via`` (the cluster keeps taking writes)."""
    urls = [up.config.dc(via).http_url]
    async with Client(urls, retry_deadline=30) as a, Client(urls, retry_deadline=30) as b:
        for client, name in ((a, f"a_{tag}"), (b, f"b_{tag}")):
            await client.register(name, "correct horse")
            await client.login(name, "correct horse")
        room = await a.open_direct(f"b_{tag}")
        for i in range(3):
            await a.send(room.room_id, f"{tag} {i}", client_id=f"{tag}-{i}")
        assert len((await b.history(room.room_id)).messages) == 3


async def test_status_shows_each_dc(up: Up) -> None:
    for dc in up.config.dcs:
        await serving(up, dc.name)
    status = await up.status()
    for each in status.values():
        assert each["processes"]["nats-server"]["state"] == each["processes"]["gateway"]["state"] == "running"
        assert each["data"] is True and each["clients"] == 0 and not each["draining"]
        assert each["leads"], f"{each['name']} leads some streams: up spreads them"
    code, table = await up.dc("status")
    assert code == 0 and "lag" in table and "leads" in table
    assert all(f"\n{name}" in table for name in status), table


async def test_a_killed_dc_is_reported_and_started_again(up: Up) -> None:
    """The user's case: dc1's processes SIGKILLed. `up` says so and how to bring it back, and
    `dc start` does, while the other DCs keep serving."""
    procs = (await up.status())["dc1"]["processes"]
    for kind in ("gateway", "nats-server"):
        os.kill(procs[kind]["pid"], signal.SIGKILL)

    async def reported() -> bool:
        return any("nats-server dc1 exited with -9" in line for line in up.seen) and any(
            "gateway dc1 exited with -9" in line and "firebreak dc start dc1" in line for line in up.seen
        )

    await eventually(reported, within_s=20, what="up to report both deaths")
    dc1 = (await up.status())["dc1"]
    assert dc1["processes"]["nats-server"] == {
        "state": "exited",
        "pid": procs["nats-server"]["pid"],
        "exit_code": -9,
    }
    assert not dc1["answering"] and dc1["lag"] is None
    await chat(up, "dc2", "killed")
    code, out = await up.dc("start", "dc1")
    assert code == 0, out
    await serving(up, "dc1")
    await same_read_models(up)


async def test_stop_keeps_the_data_and_start_catches_up(up: Up) -> None:
    code, out = await up.dc("stop", "dc3")
    assert code == 0, out
    dc3 = (await up.status())["dc3"]
    assert {p["state"] for p in dc3["processes"].values()} == {"stopped"}
    assert dc3["data"] is True and not dc3["answering"]
    await chat(up, "dc1", "stopped")
    code, out = await up.dc("start", "dc3")
    assert code == 0 and "it serves" in out, out
    await serving(up, "dc3")
    await same_read_models(up)


async def test_burn_deletes_the_data_and_start_rebuilds(up: Up) -> None:
    code, out = await up.dc("burn", "dc2")
    assert code == 0, out
    assert not (up.config.data_dir / "dc2").exists(), "the DC's folder is gone"
    assert (await up.status())["dc2"]["data"] is False
    await chat(up, "dc1", "burned")
    code, out = await up.dc("start", "dc2")
    assert code == 0, out
    assert (up.config.data_dir / "dc2" / "nats.conf").exists(), "its nats.conf is written again"
    await serving(up, "dc2")
    await same_read_models(up)


async def test_rebuild(up: Up) -> None:
    code, out = await up.dc("rebuild", "dc3")
    assert code == 0, out
    await serving(up, "dc3")
    await same_read_models(up)
    await chat(up, "dc3", "rebuilt")


async def test_the_ops_api_does_the_same(up: Up) -> None:
    assert (await up.http("GET", "dc2", "/internal/dcs", token=False)).status_code == 403
    status = (await up.http("GET", "dc2", "/internal/dcs")).json()
    assert status["supervised"] and {d["name"] for d in status["dcs"]} == {"dc1", "dc2", "dc3"}
    stopped = await up.http("POST", "dc1", "/internal/dcs/dc3/stop")
    assert stopped.status_code == 200, stopped.text
    assert {p["state"] for p in stopped.json()["processes"].values()} == {"stopped"}
    started = await up.http("POST", "dc1", "/internal/dcs/dc3/start?wait=true")
    assert started.status_code == 200, started.text
    await serving(up, "dc3")
    # A gateway asked to stop its own DC answers first (it is one of the processes stopped).
    own = await up.http("POST", "dc2", "/internal/dcs/dc2/stop")
    assert own.status_code == 202, own.text

    async def dc2_stopped() -> bool:
        procs = (await up.status())["dc2"]["processes"]
        return {p["state"] for p in procs.values()} == {"stopped"}

    await eventually(dc2_stopped, what="dc2 to stop")
    assert (await up.http("POST", "dc1", "/internal/dcs/dc2/start?wait=true")).status_code == 200
    await serving(up, "dc2")
    unknown = await up.http("POST", "dc1", "/internal/dcs/nowhere/stop")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_dc")
    assert (await up.http("POST", "dc1", "/internal/dcs/dc1/explode")).status_code == 400


async def test_evacuate_moves_leaders_and_clients_away(up: Up) -> None:
    code, out = await up.dc("evacuate", "dc1")
    assert code == 0, out
    status = await up.status()
    assert status["dc1"]["leads"] == [] and status["dc1"]["draining"]
    led = len(status["dc2"]["leads"]) + len(status["dc3"]["leads"])
    assert led == len(leadership.stream_names(up.config)), "every stream is led by dc2 or dc3"
    refused = await up.http("GET", "dc1", "/v1/rooms")
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "dc_draining")
    # From any gateway, through the ops API.
    answer = await up.http("POST", "dc3", "/internal/dcs/dc2/evacuate")
    assert answer.status_code == 200 and answer.json()["draining"], answer.text
    status = await up.status()
    assert status["dc2"]["leads"] == [] and status["dc3"]["leads"], status["dc3"]
    await chat(up, "dc3", "evacuated")
