"""What a drill reads back from the DCs (drill/runner.py): reads probed from every serving DC
during the drill, and afterwards each DC's room histories and read-model digest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import msgspec

from firebreak.client import Client
from firebreak.config import Config
from firebreak.drill.processes import every_process
from firebreak.drill.record import HistoryEntry, ReadProbe
from firebreak.drill.workload import Workload
from firebreak.errors import FirebreakError

#: Per serving DC: room histories; and the digest of each read model, by gateway process label
#: (``dc1``, ``dc1#2``: one per DC where it has one process).
ReadBack = tuple[dict[str, dict[str, list[HistoryEntry]]], dict[str, str]]


async def probe_reads(
    config: Config,
    workload: Workload,
    serving: set[str],
    probes: list[ReadProbe],
    clock: Callable[[], float],
) -> None:
    """Twice a second, reads a room's newest message from every serving DC (no failover)."""
    room_id = next(iter(workload.rooms))
    readers = {dc.name: member_reader(config, dc.name, workload, room_id) for dc in config.dcs}
    for reader in readers.values():
        reader.retry_deadline = 0
    try:
        while True:
            await asyncio.sleep(0.5)
            for dc in sorted(serving):
                started = time.monotonic()
                try:
                    await readers[dc].history(room_id, limit=1)
                    ok, error = True, ""
                except FirebreakError as exc:
                    ok, error = False, exc.code
                if dc in serving:  # burned meanwhile: not a serving DC's failure
                    took = time.monotonic() - started
                    probes.append(ReadProbe(round(clock(), 3), dc, ok, took, error))
    finally:
        for reader in readers.values():
            await reader.aclose()


def member_reader(config: Config, dc: str, workload: Workload, room_id: str) -> Client:
    """A client of one DC only, signed in as a member of ``room_id``."""
    member = next(u for u in workload.users if u.user_id in workload.rooms[room_id])
    reader = Client([config.dc(dc).http_url], retry_deadline=10)
    reader.token = member.client.token
    return reader


async def read_back(config: Config, alive: list[str], workload: Workload) -> ReadBack:
    histories: dict[str, dict[str, list[HistoryEntry]]] = {}
    digests: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for dc in alive:
            per_room: dict[str, list[HistoryEntry]] = {}
            for room_id in workload.rooms:
                one = member_reader(config, dc, workload, room_id)
                entries: list[HistoryEntry] = []
                after = 0
                while True:
                    page = await one.history(room_id, after=after, limit=200)
                    entries.extend(HistoryEntry(m.sender, m.client_id, m.room_seq) for m in page.messages)
                    if not page.more:
                        break
                    after = page.messages[-1].room_seq
                await one.aclose()
                per_room[room_id] = entries
            histories[dc] = per_room
            # Every gateway process's read model, where the DC has several (each at its own port).
            for label, own in every_process([config.dc(dc)]):
                resp = await http.get(
                    own + "/internal/digest", headers={"x-ops-token": config.secrets.ops_token}
                )
                body = resp.json()
                digests[label] = msgspec.json.encode(body["digest"]).decode()
    return histories, digests


async def settle(
    config: Config, alive: Callable[[], list[str]], workload: Workload, settle_s: float
) -> ReadBack:
    """Waits (bounded) until serving DCs agree and every device has everything, then reads back."""
    end = time.monotonic() + settle_s
    while True:
        histories, digests = await read_back(config, alive(), workload)
        agreed = len(set(digests.values())) <= 1
        expected = sum(
            len(next(iter(histories.values()), {}).get(room, [])) * len(workload.devices_of(members))
            for room, members in workload.rooms.items()
        )
        if (agreed and workload.received_count() >= expected) or time.monotonic() > end:
            return histories, digests
        await asyncio.sleep(0.5)
