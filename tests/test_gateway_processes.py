"""Several gateway processes per DC (config.DCConfig.gateways) on a real cluster: they share the
DC's port, each new connection reaches one of them, each serves what every DC serves from a read
model of its own, each answers at its own port too, and a drain asked of one empties them all."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Request
from websockets.asyncio.client import ClientConnection

from firebreak.client import Client
from firebreak.entrypoints import dcops
from firebreak.entrypoints.dc_cli import format_status
from firebreak.localcluster import LocalCluster
from tests.conftest import SHARED_LIMITS
from tests.helpers import (
    cluster_config,
    eventually,
    live_socket,
    local_cluster,
    next_frame,
    ops_sign_in,
    until_closed,
    user,
)

#: Gateway processes per DC in this test.
PROCESSES = 2
#: Sockets opened at the first DC: each on a new connection, so the kernel deals them to both.
SOCKETS = 12


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    config = cluster_config(Path(tmp_path_factory.mktemp("processes")), SHARED_LIMITS, gateways=PROCESSES)
    local = local_cluster(config)
    try:
        await local.start()
        yield local
    finally:
        local.stop()


async def by_process(url: str, within_s: float = 30.0) -> dict[int, dict[str, object]]:
    """Each gateway process's /healthz at ``url``, asking on new connections until every one of
    the DC's processes has answered."""
    seen: dict[int, dict[str, object]] = {}
    end = time.monotonic() + within_s
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as http:
        while len(seen) < PROCESSES:
            assert time.monotonic() < end, f"only processes {sorted(seen)} answered at {url}"
            health = (await http.get(url + "/healthz")).json()
            seen[int(health.get("process", 1))] = health
    return seen


async def test_each_process_answers_at_its_own_port_with_its_metrics_and_read_model(
    cluster: LocalCluster,
) -> None:
    """The DC's port reaches whichever process the kernel picks; a monitor, a drill or an operator
    reaches one given process at its own port (DCConfig.process_ports)."""
    ops = {"x-ops-token": cluster.config.secrets.ops_token}
    async with httpx.AsyncClient(timeout=10) as http:
        for dc in cluster.config.dcs:
            for process in range(1, PROCESSES + 1):
                url = dc.process_url(process)
                assert url is not None
                health = (await http.get(url + "/healthz")).json()
                assert (health.get("process", 1), health["ready"]) == (process, True), (dc.name, health)
                metrics = await http.get(url + "/metrics", headers=ops)
                assert metrics.status_code == 200 and "firebreak_" in metrics.text

        async def every_process_agrees() -> bool:
            digests = set()
            for dc in cluster.config.dcs:
                for process in range(1, PROCESSES + 1):
                    answer = (
                        await http.get(f"{dc.process_url(process)}/internal/digest", headers=ops)
                    ).json()
                    digests.add(str(answer["digest"]))
            return len(digests) == 1

        await eventually(every_process_agrees, what="the same read model in all six processes")


async def test_status_and_console_ask_every_process_at_its_own_port(
    cluster: LocalCluster, browser: Browser
) -> None:
    """``dc status`` and the ops console see each process, not whichever the shared port reaches:
    the DC's clients are all its processes' sockets, and the console's counters come from every
    process's /metrics (at the shared port they would jump between processes at each poll).
    Runs before the drain test below, which leaves dc1 draining."""
    alice = Client([dc.http_url for dc in cluster.config.dcs], preferred=0, retry_deadline=30.0)
    sockets: list[ClientConnection] = []
    page = await browser.new_page()
    try:
        await user(lambda _dc: alice, 0, "carol")
        assert alice.token is not None
        dc1 = cluster.config.dcs[0]
        sockets = [await live_socket(dc1.ws_url, alice.token) for _ in range(SOCKETS)]

        async def counted() -> dcops.ClusterStatus | None:
            status = await dcops.status(cluster.config)
            first = status.dcs[0]
            held = [g.clients or 0 for g in first.gateways]
            return status if first.clients == SOCKETS and sum(held) == SOCKETS and all(held) else None

        status = await eventually(counted, what=f"dc status counting {SOCKETS} sockets on both processes")
        for dc, seen in zip(cluster.config.dcs, status.dcs, strict=True):
            assert [(g.process, g.url, g.ready) for g in seen.gateways] == [
                (k, dc.process_url(k), True) for k in range(1, PROCESSES + 1)
            ], seen
            assert seen.ready and not seen.draining
        table = format_status(status)
        assert "  #1 " in table and "  #2 " in table, table

        asked: set[str] = set()

        def note(request: Request) -> None:
            if request.url.endswith("/metrics"):
                asked.add(request.url.removesuffix("/metrics"))

        page.on("request", note)
        await ops_sign_in(page, cluster, 0)
        field = page.locator('article[data-dc="dc1"] dd[data-field="processes"]')
        await field.wait_for()

        clients = page.locator('article[data-dc="dc1"] dd[data-field="clients"]')

        async def both_shown() -> bool:
            text = await field.inner_text()
            return "#1 ready" in text and "#2 ready" in text and await clients.inner_text() == str(SOCKETS)

        await eventually(both_shown, what="both of dc1's processes on its console card")
        own = {str(dc.process_url(k)) for dc in cluster.config.dcs for k in range(1, PROCESSES + 1)}

        async def every_process_asked() -> bool:
            return own <= asked

        await eventually(every_process_asked, what="/metrics asked of every process at its own port")
        assert not asked & {dc.http_url for dc in cluster.config.dcs}, asked
    finally:
        await page.close()
        for ws in sockets:
            await ws.close()
        await alice.aclose()


async def test_processes_share_the_port_serve_every_socket_and_drain_together(cluster: LocalCluster) -> None:
    urls = [dc.http_url for dc in cluster.config.dcs]
    made = [Client(urls, preferred=0, retry_deadline=30.0) for _ in range(2)]
    try:
        alice, bob = made
        await user(lambda _dc: alice, 0, "alice")
        await user(lambda _dc: bob, 0, "bob")
        assert bob.user is not None
        room = await alice.create_group("two processes", [bob.user.username])
        dc1 = cluster.config.dcs[0]
        sockets: list[ClientConnection] = []
        for i in range(SOCKETS):
            token = (alice if i % 2 else bob).token
            assert token is not None
            sockets.append(await live_socket(dc1.ws_url, token))

        async def both_hold_sockets() -> dict[int, dict[str, object]] | None:
            seen = await by_process(dc1.http_url)
            held = {p: int(str(h["connections"])) for p, h in seen.items()}
            return seen if sum(held.values()) == SOCKETS and all(held.values()) else None

        await eventually(both_hold_sockets, what=f"{SOCKETS} sockets held by both processes")

        text = f"to every process {secrets.token_hex(8)}"
        await alice.send(room.room_id, text)
        end = time.monotonic() + 20
        for ws in sockets:
            while text not in await next_frame(ws, end):
                pass

        async with httpx.AsyncClient(base_url=dc1.http_url) as http:
            resp = await http.post(
                "/internal/drain", headers={"x-ops-token": cluster.config.secrets.ops_token}
            )
            assert resp.status_code == 200, resp.text
        await asyncio.gather(*(until_closed(ws, 20) for ws in sockets))
        for health in (await by_process(dc1.http_url)).values():
            assert health["draining"] is True
        # Every other DC serves on, and its status page, which asks each process, says so.
        for dc in cluster.config.dcs[1:]:
            assert all(h["ready"] for h in (await by_process(dc.http_url)).values())
        expected = {"dc1": "maintenance", "dc2": "up", "dc3": "up"}

        async def page_says() -> bool:
            # Polled: on a busy machine a process may miss the page's 1 s wait for its health.
            async with httpx.AsyncClient() as http:
                page = (await http.get(cluster.config.dcs[1].http_url + "/status.json")).json()
            return {d["name"]: d["state"] for d in page["dcs"]} == expected

        await eventually(page_says, what=f"dc2's status page saying {expected}")
    finally:
        for client in made:
            await client.aclose()


@pytest.mark.parametrize(
    ("process", "refusal"), [(2, "another gateway process is using"), (3, "no process 3")]
)
def test_a_process_number_already_running_or_not_configured_is_refused(
    cluster: LocalCluster, process: int, refusal: str
) -> None:
    """A second process given a running one's number would share its read model (SO_REUSEPORT lets
    it onto the port): it exits before it binds, as does a number the DC does not have."""
    argv = [sys.executable, "-m", "firebreak.entrypoints.cli", "gateway", "--dc", "dc2"]
    argv += ["--process", str(process), "--config", str(cluster.config_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done
    assert refusal in done.stderr + done.stdout
