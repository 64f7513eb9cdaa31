"""A gateway killed with applies it has not committed comes back with everything, from the log;
one stopped with SIGTERM commits them before it exits.

Its own cluster, with ``read_model_commit_s`` = 3600 so that the serving read model commits
nothing while the test runs: the kill then certainly loses rows that the gateway had served
(the test checks that the file is behind), and the restarted gateway must read them again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from firebreak.bootstrap import read_model_path
from firebreak.client import Client
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, digests, eventually, local_cluster, settled


@pytest.fixture(scope="module")
async def slow_committing(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    config = dataclasses.replace(
        cluster_config(Path(tmp_path_factory.mktemp("crash"))), read_model_commit_s=3600.0
    )
    local = local_cluster(config)
    try:
        await local.start()
        yield local
    finally:
        local.stop()


def _positions_on_file(path: Path) -> dict[str, int]:
    """What a separate connection sees: committed positions only."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {stream: seq for stream, seq in db.execute("SELECT stream, seq FROM positions")}


async def _health(cluster: LocalCluster, name: str) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=5) as http:
        health: dict[str, object] = (await http.get(cluster.config.dc(name).http_url + "/healthz")).json()
        return health


async def test_a_killed_gateway_reads_its_uncommitted_applies_again(slow_committing: LocalCluster) -> None:
    cluster = slow_committing
    victim = cluster.config.dcs[1]
    urls = [d.http_url for d in cluster.config.dcs]
    tag = secrets.token_hex(3)
    a = Client(urls, preferred=0, retry_deadline=60)
    b = Client(urls, preferred=2, retry_deadline=60)
    async with a, b:
        await a.register(f"crash_a_{tag}", "correct horse")
        await b.register(f"crash_b_{tag}", "correct horse")
        await a.login(f"crash_a_{tag}", "correct horse")
        await b.login(f"crash_b_{tag}", "correct horse")
        room = await a.create_group("crash", [f"crash_b_{tag}"])
        texts = [f"{tag}-{k}" for k in range(50)]
        for text in texts[:30]:
            await a.send(room.room_id, text)
        await settled(cluster)

        # The victim serves what it applied, but its file is behind: that is what the kill loses.
        served = (await _health(cluster, victim.name))["head"]
        on_file = _positions_on_file(read_model_path(cluster.config, victim))
        assert isinstance(served, dict)
        behind = [stream for stream, seq in served.items() if on_file.get(stream, 0) < seq]
        assert behind, f"nothing uncommitted to lose (file {on_file}, served {served})"

        cluster.kill_gateway(victim.name)  # SIGKILL: no shutdown step runs
        for text in texts[30:40]:  # the others go on taking writes meanwhile
            await a.send(room.room_id, text)
        cluster.start_gateway(victim.name)
        await cluster.wait_ready([victim.name], within_s=60)
        for text in texts[40:]:
            await a.send(room.room_id, text)
        await settled(cluster)

        reader = Client([victim.http_url], retry_deadline=30)
        reader.token = b.token
        got = [m.text for m in (await reader.history(room.room_id, limit=100)).messages]
        await reader.aclose()
        assert got == texts

        async def identical() -> bool:
            states = list((await digests(cluster, [d.name for d in cluster.config.dcs])).values())
            return all((s["head"], s["digest"]) == (states[0]["head"], states[0]["digest"]) for s in states)

        await eventually(identical, within_s=20, what="identical read models in every DC")


async def test_a_gateway_stopped_with_sigterm_commits_what_it_served(slow_committing: LocalCluster) -> None:
    """The shutdown's last step commits the open read-model transaction (``gw.close()``): a
    server library that re-raised the signal after its own shutdown would end the process first."""
    cluster = slow_committing
    victim = cluster.config.dcs[2]
    urls = [d.http_url for d in cluster.config.dcs]
    tag = secrets.token_hex(3)
    a = Client(urls, preferred=0, retry_deadline=60)
    async with a:
        await a.register(f"term_a_{tag}", "correct horse")
        await a.login(f"term_a_{tag}", "correct horse")
        room = await a.create_group("term", [])
        for k in range(20):
            await a.send(room.room_id, f"{tag}-{k}")
        await settled(cluster)
    served = (await _health(cluster, victim.name))["head"]
    assert isinstance(served, dict)
    path = read_model_path(cluster.config, victim)
    assert _positions_on_file(path) != served, "nothing uncommitted: the test would prove nothing"
    try:
        assert cluster.stop_gateway(victim.name) == [0], "a clean exit, not the signal's default death"
        on_file = _positions_on_file(path)
        assert {s: on_file.get(s, 0) for s in served} == served
    finally:
        cluster.start_gateway(victim.name)
        await cluster.wait_ready([victim.name], within_s=60)
