"""Readiness is never stale: a burned DC rebuilt under write load serves no read that misses a
message acknowledged before it started (what readiness promises), receives the ones acknowledged
while it was catching up within seconds, and does come back to serve. Repeated over all
three DCs (leaders included), because what can go wrong depends on timing: a just-rejoined node
answers for a stream it thinks leaderless from its own replica ("stream not found", then
last_seq 0). The "stream not found" answer once ended the gateway's readiness task, and that DC
never served again; this test found it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from firebreak.client import Client
from tests.helpers import cluster_config, eventually, fully_replicated, history_ids, local_cluster

pytestmark = pytest.mark.slow

RESTARTS = 21
ROOMS = 3


class Writer:
    """Sends one message at a time round-robin over the rooms, noting when each was acknowledged."""

    def __init__(self, client: Client, rooms: list[str]) -> None:
        self.client, self.rooms = client, rooms
        #: (monotonic time the acknowledgement arrived, room id, client id)
        self.acked: list[tuple[float, str, str]] = []
        self.stop = asyncio.Event()

    async def run(self, max_messages: int = 20_000) -> None:
        for n in range(max_messages):
            if self.stop.is_set():
                return
            room = self.rooms[n % len(self.rooms)]
            result = await self.client.send(room, f"m{n}", client_id=f"w-{n}")
            self.acked.append((time.monotonic(), room, result.message.client_id))


async def _history(http: httpx.AsyncClient, url: str, token: str, room: str) -> set[str] | None:
    """Every client id in ``room``'s history at one DC (None: that DC refused to answer)."""
    ids = await history_ids(http, url, token, room)
    return None if ids is None else set(ids)


async def test_a_rebuilt_dc_never_serves_a_read_that_misses_an_acknowledged_message(tmp_path: Path) -> None:
    cluster = local_cluster(cluster_config(tmp_path / "data"))
    urls = [dc.http_url for dc in cluster.config.dcs]
    try:
        await cluster.start()
        client = Client(urls, preferred=0, retry_deadline=60.0)
        await client.register("writer", "a long password")
        await client.login("writer", "a long password")
        assert client.token is not None
        rooms = [(await client.create_group(f"room {i}", [])).room_id for i in range(ROOMS)]
        writer = Writer(client, rooms)
        writing = asyncio.create_task(writer.run())
        async with httpx.AsyncClient(timeout=10) as http:
            for i in range(RESTARTS):
                # Three replicas survive one lost DC at a time: each burn waits until every DC holds
                # a current copy of every stream, the KV buckets included (serving needs only the
                # streams a gateway reads). Burning a DC while the others were still copying the
                # secrets bucket from it left that bucket without a leader for good.
                await eventually(
                    lambda: fully_replicated(cluster.config),
                    within_s=120,
                    what=f"every stream's replicas current before restart {i}",
                )
                acked = len(writer.acked)

                async def writes_go_on(acked: int = acked) -> bool:
                    assert not writing.done(), "the writer stopped"
                    return len(writer.acked) > acked

                await eventually(writes_go_on, within_s=60, what="writes to go on")
                victim = cluster.config.dcs[i % len(cluster.config.dcs)]
                cluster.kill(victim.name, burn=True)
                started_at = time.monotonic()
                cluster.start_dc(victim.name)
                asked: list[float] = []
                said: list[str] = []

                async def says_ready(
                    url: str = victim.http_url, asked: list[float] = asked, said: list[str] = said
                ) -> bool:
                    asked.append(time.monotonic())
                    try:
                        health = (await http.get(url + "/healthz")).json()
                    except (httpx.HTTPError, ValueError) as exc:
                        said.append(repr(exc))
                        return False
                    said.append(str(health))
                    return health["ready"] is True

                try:
                    await eventually(says_ready, within_s=120, what=f"{victim.name} to serve again")
                except AssertionError as exc:
                    log = cluster.log_tail(victim.name, "gateway", lines=30)
                    raise AssertionError(f"restart {i}: {victim.name} said {said[-1:]}; log:\n{log}") from exc
                asked_at = asked[-1]
                # Readiness promises the log as it stood when the gateway started (the leaders'
                # answers come after this moment): all of that is in the first reads it serves.
                # What was acknowledged later may still be on its way to this DC's replica, as at
                # any serving DC, and must arrive within moments.
                promised = {(room, cid) for at, room, cid in writer.acked if at < started_at}
                trailing = {(room, cid) for at, room, cid in writer.acked if started_at <= at < asked_at}
                for room in rooms:
                    seen = await _history(http, victim.http_url, client.token, room)
                    assert seen is not None, f"{victim.name} said ready, then refused a read"
                    missing = {cid for r, cid in promised if r == room} - seen
                    assert not missing, (
                        f"restart {i}: {victim.name} served {room} without {sorted(missing)[:5]}"
                    )

                async def trailing_arrived(
                    url: str = victim.http_url, trailing: set[tuple[str, str]] = trailing
                ) -> bool:
                    for room in rooms:
                        seen = await _history(http, url, client.token or "", room)
                        if seen is None or {cid for r, cid in trailing if r == room} - seen:
                            return False
                    return True

                await eventually(
                    trailing_arrived, within_s=10, what=f"{victim.name} to apply the newest writes"
                )
        writer.stop.set()
        await writing
        await client.aclose()
    finally:
        cluster.stop()
