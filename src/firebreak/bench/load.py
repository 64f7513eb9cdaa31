"""Firebreak end to end, the way users reach it: HTTP sends and WebSocket deliveries.

``rooms`` rooms of ``room_size`` members each (distinct users); the first member of every room is
its sender, so there are ``rooms`` concurrent senders. Closed loop by default (each sender sends
again as soon as the previous send is acknowledged); with ``rate`` an open loop spread over the
senders. ``online`` is the share of members with a live WebSocket. Bounded by ``duration_s`` and
``max_messages``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import Callable

import msgspec

from firebreak.client import Client, LiveConnection
from firebreak.config import Config
from firebreak.domain.events import MessageSent
from firebreak.stats import quantile


class BenchOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    room_size: int = 20
    rooms: int = 20
    online: float = 1.0
    message_size: int = 100
    duration_s: float = 10.0
    max_messages: int = 100_000
    rate: float | None = None
    raw_messages: int = 20_000
    raw_sequential: int = 2_000
    partitions: int = 3


class Latency(msgspec.Struct, frozen=True):
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None


class LoadResult(msgspec.Struct, frozen=True):
    messages: int
    seconds: float
    per_s: float
    deliveries: int
    deliveries_per_s: float
    online_clients: int
    send_to_ack: Latency
    #: per message: until the last online member of its room had it
    send_to_all_delivered: Latency
    undelivered_messages: int


def latency(values: list[float]) -> Latency:
    if not values:
        return Latency(0, None, None, None, None, None)
    s = sorted(values)
    p50, p95, p99, p999 = (round(quantile(s, q) * 1000, 2) for q in (0.5, 0.95, 0.99, 0.999))
    return Latency(len(s), p50, p95, p99, p999, round(s[-1] * 1000, 2))


class Load:
    def __init__(self, config: Config, options: BenchOptions, say: Callable[[str], None]) -> None:
        self._config = config
        self._o = options
        self._say = say
        self._counter = itertools.count()
        self.clients: list[Client] = []
        self.lives: list[LiveConnection] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.sent_at: dict[str, float] = {}
        self.received: dict[str, list[float]] = defaultdict(list)
        #: every message should reach this many live connections (the online members of its room)
        self.online_per_room = 0
        self.senders: list[tuple[Client, str]] = []

    async def setup(self, tag: str) -> None:
        urls = [d.http_url for d in self._config.dcs]
        ws = [d.ws_url for d in self._config.dcs]
        gate = asyncio.Semaphore(24)

        async def member(room: int, k: int) -> Client:
            async with gate:
                client = Client(urls, preferred=(room + k) % len(urls), retry_deadline=60)
                name = f"b{tag}r{room}m{k}"
                await client.register(name, "bench password")
                await client.login(name, "bench password")
                return client

        online_per_room = max(1, round(self._o.room_size * self._o.online))
        self.online_per_room = online_per_room
        for room in range(self._o.rooms):
            members = await asyncio.gather(*(member(room, k) for k in range(self._o.room_size)))
            self.clients.extend(members)
            names = [c.user.username for c in members[1:] if c.user]
            view = await members[0].create_group(f"bench {room}", names, f"bench-{tag}-{room}")
            self.senders.append((members[0], view.room_id))
            for k, client in enumerate(members[:online_per_room]):
                live = LiveConnection(ws, client.current_token, preferred=(room + k) % len(ws)).start()
                self.lives.append(live)
                self._tasks.append(asyncio.create_task(self._receive(live)))
            self._say(f"  room {room + 1}/{self._o.rooms} ready ({online_per_room} members online)")
        await asyncio.gather(*(asyncio.wait_for(live.live.wait(), 60) for live in self.lives))

    async def _receive(self, live: LiveConnection) -> None:
        while True:
            item = await live.events.get()
            if isinstance(item.event, MessageSent):
                self.received[item.event.client_id].append(time.perf_counter())

    async def run(self) -> LoadResult:
        acks: list[float] = []
        pad = "x" * self._o.message_size
        end = time.perf_counter() + self._o.duration_s
        budget = itertools.count()

        async def sender(client: Client, room_id: str, interval: float | None) -> None:
            next_at = time.perf_counter()
            while time.perf_counter() < end and next(budget) < self._o.max_messages:
                if interval is not None:
                    next_at += interval
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                cid = f"m{next(self._counter)}"
                started = time.perf_counter()
                self.sent_at[cid] = started
                await client.send(room_id, pad, client_id=cid)
                acks.append(time.perf_counter() - started)

        interval = None if self._o.rate is None else len(self.senders) / self._o.rate
        started = time.perf_counter()
        await asyncio.gather(*(sender(c, r, interval) for c, r in self.senders))
        took = time.perf_counter() - started
        # Let deliveries finish (bounded): every online member should have every message.
        deadline = time.perf_counter() + 15
        want = self.online_per_room
        while time.perf_counter() < deadline:
            if all(len(self.received.get(cid, [])) >= want for cid in self.sent_at):
                break
            await asyncio.sleep(0.05)
        to_all = [
            max(self.received[cid]) - t
            for cid, t in self.sent_at.items()
            if len(self.received.get(cid, [])) >= want
        ]
        deliveries = sum(len(v) for v in self.received.values())
        return LoadResult(
            messages=len(acks),
            seconds=round(took, 3),
            per_s=round(len(acks) / took, 1),
            deliveries=deliveries,
            deliveries_per_s=round(deliveries / took, 1),
            online_clients=len(self.lives),
            send_to_ack=latency(acks),
            send_to_all_delivered=latency(to_all),
            undelivered_messages=len(self.sent_at) - len(to_all),
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for live in self.lives:
            with contextlib.suppress(Exception):
                await live.close()
        for client in self.clients:
            await client.aclose()
