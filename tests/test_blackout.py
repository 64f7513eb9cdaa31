"""A blackout: all three DCs lose power at the same moment under write load (every nats-server and
gateway SIGKILLed together), then start again from their disks. Every write acknowledged before
the blackout is there afterwards, exactly once, in the same order at every DC; a write that was
in flight is there at most once. Jepsen lost acknowledged writes of NATS 2.12.1 under coordinated
crashes with the default fsync policy; Firebreak runs with ``sync_interval: always``."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest

from firebreak.client import Client
from tests.conftest import SHARED_LIMITS
from tests.helpers import (
    clients_of,
    cluster_config,
    digests,
    eventually,
    history_ids,
    local_cluster,
    settled,
    user,
)

pytestmark = pytest.mark.slow

WRITERS = 3
ROOMS = 4
#: Acknowledged writes to wait for before the power goes.
BEFORE_BLACKOUT = 150


class Writer:
    """Sends one message at a time round-robin over the rooms; notes what was acknowledged and
    what was sent without an answer yet."""

    def __init__(self, client: Client, rooms: list[str], name: str) -> None:
        self.client, self.rooms, self.name = client, rooms, name
        self.acked: list[tuple[str, str]] = []
        self.in_flight: tuple[str, str] | None = None

    async def run(self, max_messages: int = 5_000) -> None:
        for n in range(max_messages):
            room, cid = self.rooms[n % len(self.rooms)], f"{self.name}-{n}"
            self.in_flight = (room, cid)
            await self.client.send(room, f"m{n}", client_id=cid)
            self.acked.append((room, cid))
            self.in_flight = None


async def test_every_acknowledged_write_survives_a_blackout_of_every_dc_exactly_once(tmp_path: Path) -> None:
    cluster = local_cluster(cluster_config(tmp_path / "data", SHARED_LIMITS))
    try:
        await cluster.start()
        async with clients_of(cluster) as make, httpx.AsyncClient(timeout=30) as http:
            people = [await user(make, i, f"w{i}") for i in range(WRITERS)]
            names = [p.user.username for p in people if p.user is not None]
            rooms = [(await people[0].create_group(f"r{r}", names[1:])).room_id for r in range(ROOMS)]
            writers = [Writer(p, rooms, f"w{i}") for i, p in enumerate(people)]
            tasks = [asyncio.create_task(w.run()) for w in writers]

            async def enough() -> bool:
                assert not any(t.done() for t in tasks), "a writer stopped"
                return sum(len(w.acked) for w in writers) >= BEFORE_BLACKOUT

            await eventually(enough, within_s=120, what=f"{BEFORE_BLACKOUT} acknowledged writes")
            cluster.blackout()
            for task in tasks:  # what is acknowledged from here on is not counted
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            acked = [a for w in writers for a in w.acked]
            unsure = [w.in_flight for w in writers if w.in_flight is not None]

            await cluster.start()
            await settled(cluster, within_s=60)
            token = people[0].token or ""
            seen: dict[str, dict[str, list[str]]] = {}
            for dc in cluster.config.dcs:
                read = {room: await history_ids(http, dc.http_url, token, room) for room in rooms}
                seen[dc.name] = {room: ids for room, ids in read.items() if ids is not None}
                assert len(seen[dc.name]) == len(rooms), f"{dc.name} refused a read after the restart"
            first = seen[cluster.config.dcs[0].name]
            for name, histories in seen.items():
                assert histories == first, f"{name}'s histories differ from the first DC's"
            for room, ids in first.items():
                assert len(ids) == len(set(ids)), f"{room} holds a write twice"
                missing = [cid for r, cid in acked if r == room and cid not in ids]
                assert not missing, f"{room} lost acknowledged writes: {missing[:5]}"
            states = await digests(cluster, [d.name for d in cluster.config.dcs])
            assert len({str(s["digest"]) for s in states.values()}) == 1, "read models differ"
            kept = sum(1 for r, cid in unsure if cid in first[r])
            print(
                f"\nblackout: {len(acked)} acknowledged, all kept once; in flight {len(unsure)}, kept {kept}"
            )
    finally:
        cluster.stop()
