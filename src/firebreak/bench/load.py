"""Firebreak end to end, the way users reach it: sends over HTTP (or, with ``send_over="ws"``, as
commands on the sender's live WebSocket, bench/ws_send.py) and WebSocket deliveries.

``rooms`` rooms of ``room_size`` members each (distinct users); the first member of every room is
its sender, so there are ``rooms`` concurrent senders. Closed loop by default (each sender sends
again as soon as the previous send is acknowledged); with ``rate`` an open loop spread over the
senders. ``online`` is the share of members with a live WebSocket. Bounded by ``duration_s`` and
``max_messages``.

Members register, log in and connect at the gateway of DC ``(room + k) mod DCs``, so every room
spans all DCs. The load goes over the lean wire client (bench/wire.py) to leave the CPU to the
system under test.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable

import msgspec

from firebreak.bench.connections import source_address
from firebreak.bench.latency import latency
from firebreak.bench.load_shapes import BenchOptions, LoadResult, SeenFrame, SeenRoom, SeenSession
from firebreak.bench.wire import HttpConnection, WireError, WireWebSocket, close_websocket, open_websocket
from firebreak.bench.ws_send import AckWaiter, send_pipelined
from firebreak.config import Config

_frame = msgspec.json.Decoder(SeenFrame).decode
_encode = msgspec.json.encode
PASSWORD = "bench password"
#: concurrent set-up requests (registrations, logins, room creations)
SETUP_CONCURRENCY = 32
#: concurrent WebSocket handshakes: clients that come online do not wait for each other, so the
#: connection rate is the gateways' (and this process's), not one client's round trip times 32
CONNECT_CONCURRENCY = 256


#: CPU seconds used so far by (all gateways, the load generator)
CpuClock = Callable[[], tuple[float, float]]


class Load:
    def __init__(
        self,
        config: Config,
        options: BenchOptions,
        say: Callable[[str], None],
        cpu: CpuClock = lambda: (0.0, 0.0),
    ) -> None:
        self._config = config
        self._cpu = cpu
        self._connect_cpu = (0.0, 0.0)
        self._o = options
        self._say = say
        self._counter = itertools.count()
        #: shared by all senders of a run: every send takes one number, up to max_messages
        self._budget = itertools.count()
        self._failed = 0
        self._connect_s = 0.0
        self._sockets: list[WireWebSocket] = []
        self._conns: list[HttpConnection] = []
        self.sent_at: dict[str, float] = {}
        self.received: dict[str, list[float]] = defaultdict(list)
        #: every message should reach this many live connections (the online members of its room)
        self.online_per_room = 0
        #: (connection to the sender's DC, token, room id) per room
        self.senders: list[tuple[HttpConnection, str, str]] = []
        self._ready = 0
        self._all_ready = asyncio.Event()
        self._want_ready = 0
        self._acks = AckWaiter()
        self._socket_counter = itertools.count()
        #: each sender's live socket (one per room; None when the sender is not online)
        self.sender_sockets: list[WireWebSocket | None] = []

    def _dc(self, i: int) -> tuple[str, int]:
        dc = self._config.dcs[i % len(self._config.dcs)]
        return dc.host, dc.http_port

    async def _connection(self, i: int) -> HttpConnection:
        conn = await HttpConnection(*self._dc(i)).open()
        self._conns.append(conn)
        return conn

    async def setup(self, tag: str) -> None:
        n_dcs = len(self._config.dcs)
        pools: list[asyncio.Queue[HttpConnection]] = [asyncio.Queue() for _ in range(n_dcs)]
        for i in range(n_dcs):
            for _ in range(SETUP_CONCURRENCY // n_dcs + 1):
                pools[i].put_nowait(await self._connection(i))

        async def call(i: int, path: str, body: object, token: str | None = None) -> bytes:
            conn = await pools[i].get()
            try:
                status, data = await conn.post(path, _encode(body), token)
            finally:
                pools[i].put_nowait(conn)
            if status >= 300:
                raise WireError(f"{path} at dc {i}: {status} {data[:300]!r}")
            return data

        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        handshakes = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def member(room: int, k: int) -> tuple[str, str]:
            i = (room + k) % n_dcs
            name = f"b{tag}r{room}m{k}"
            async with gate:
                await call(i, "/v1/accounts", {"username": name, "password": PASSWORD, "request_id": name})
                login = await call(i, "/v1/sessions", {"username": name, "password": PASSWORD})
            return name, msgspec.json.decode(login, type=SeenSession).token

        async def connect(dc: int, token: str) -> WireWebSocket:
            async with handshakes:
                host, port = self._dc(dc)
                path = "/v1/ws?" + urllib.parse.urlencode({"token": token})
                source = source_address(next(self._socket_counter), self._o.source_addresses)
                sock = await open_websocket(host, port, path, self._on_text, source)
                self._sockets.append(sock)
                return sock

        online_per_room = max(1, round(self._o.room_size * self._o.online))
        self.online_per_room = online_per_room
        for room in range(self._o.rooms):
            members = await asyncio.gather(*(member(room, k) for k in range(self._o.room_size)))
            sender_token = members[0][1]
            names = [n for n, _ in members[1:]]
            group = {"name": f"bench {room}", "members": names, "request_id": f"g{room}"}
            made = await call(room % n_dcs, "/v1/rooms", group, sender_token)
            room_id = msgspec.json.decode(made, type=SeenRoom).room_id
            self.senders.append((await self._connection(room), sender_token, room_id))
            online = members[:online_per_room]
            opening, cpu_before = time.perf_counter(), self._cpu()
            socks = await asyncio.gather(*(connect(room + k, token) for k, (_, token) in enumerate(online)))
            await self._until_ready(len(self._sockets))
            self._connect_s += time.perf_counter() - opening
            cpu_after = self._cpu()
            self._connect_cpu = (
                self._connect_cpu[0] + cpu_after[0] - cpu_before[0],
                self._connect_cpu[1] + cpu_after[1] - cpu_before[1],
            )
            self.sender_sockets.append(socks[0])  # the sender is the room's first member, online first
            self._say(f"  room {room + 1}/{self._o.rooms} ready ({online_per_room} members online)")

    async def _until_ready(self, sockets: int) -> None:
        """Waits (at most 120 s) until ``sockets`` live sockets have had their ``ready`` frame."""
        self._want_ready = sockets
        self._all_ready.clear()
        if self._ready < sockets:
            await asyncio.wait_for(self._all_ready.wait(), 120)

    def _on_text(self, payload: bytes) -> None:
        # Runs once per delivered frame, on the event loop: keep it minimal.
        frame = _frame(payload)
        data = frame.data
        if data is not None:
            now = time.perf_counter()
            for one in data if isinstance(data, list) else (data,):
                if one.event.type == "message_sent":
                    self.received[one.event.client_id].append(now)
        elif frame.kind == "ack":
            if frame.ref is not None:
                self._acks.heard(frame.ref, frame.status)
        elif frame.kind == "ready":
            self._ready += 1
            if self._ready >= self._want_ready:
                self._all_ready.set()

    async def run(self) -> LoadResult:
        acks: list[float] = []
        self._failed = 0
        text = "x" * self._o.message_size
        end = time.perf_counter() + self._o.duration_s
        self._budget = budget = itertools.count()

        n = self._o.batch
        single = n == 1
        follow = self._o.follow_write_hints
        urls = [dc.http_url for dc in self._config.dcs]
        over_ws = self._o.send_over == "ws"

        async def sender(
            conn: HttpConnection,
            token: str,
            room_id: str,
            sock: WireWebSocket | None,
            interval: float | None,
            phase: float,
        ) -> None:
            path = f"/v1/rooms/{room_id}/messages" + ("" if single else "/batch")
            # Open loop: senders are spread over the interval, not all firing at the same instant.
            next_at = time.perf_counter() + (interval or 0.0) * phase
            while time.perf_counter() < end and next(budget) < self._o.max_messages:
                if interval is not None:
                    next_at += interval
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if over_ws and sock is not None and self._o.window > 1:
                    await self._pipelined(sock, room_id, text, end, acks)
                    return
                cids = [f"m{next(self._counter)}" for _ in range(n)]
                body = [{"client_id": cid, "text": text} for cid in cids]
                started = time.perf_counter()
                for cid in cids:
                    self.sent_at[cid] = started
                if over_ws and sock is not None:
                    status = await self._acks.send(sock, room_id, cids[0], text)
                else:
                    status, _ = await conn.post(
                        path, _encode(body[0] if single else {"messages": body}), token
                    )
                if status >= 300:
                    self._failed += n
                    for cid in cids:
                        del self.sent_at[cid]
                    continue
                acks.extend([time.perf_counter() - started] * n)
                hint = None if over_ws else conn.write_url
                if follow and hint is not None and hint != conn.url and hint in urls:
                    # As client/client.py does: the room's next writes go where the answer said.
                    conn = await self._connection(urls.index(hint))

        # ``rate`` counts messages; with batches a request carries ``batch`` of them.
        interval = None if self._o.rate is None else len(self.senders) * n / self._o.rate
        started = time.perf_counter()
        k = len(self.senders)
        socks = self.sender_sockets
        await asyncio.gather(
            *(sender(c, t, r, socks[i], interval, i / k) for i, (c, t, r) in enumerate(self.senders))
        )
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
            online_clients=len(self._sockets),
            connects_per_s=round(len(self._sockets) / max(self._connect_s, 1e-9), 1),
            connect_cpu_ms_gateways=round(self._connect_cpu[0] * 1000 / max(1, len(self._sockets)), 3),
            connect_cpu_ms_load=round(self._connect_cpu[1] * 1000 / max(1, len(self._sockets)), 3),
            send_to_ack=latency(acks),
            send_to_all_delivered=latency(to_all),
            undelivered_messages=len(self.sent_at) - len(to_all),
            failed_sends=self._failed,
            source_addresses=len(
                {s.transport.get_extra_info("sockname")[0] for s in self._sockets if s.transport is not None}
            ),
        )

    async def _pipelined(
        self, sock: WireWebSocket, room_id: str, text: str, end: float, acks: list[float]
    ) -> None:
        """One sender with ``window`` sends in flight on its socket (bench/ws_send.py)."""

        def next_id() -> str | None:
            if next(self._budget) >= self._o.max_messages:
                return None
            cid = f"m{next(self._counter)}"
            self.sent_at[cid] = time.perf_counter()
            return cid

        def answered(cid: str, status: int) -> None:
            if 200 <= status < 300:
                acks.append(time.perf_counter() - self.sent_at[cid])
            else:
                self._failed += 1
                self.sent_at.pop(cid, None)

        await send_pipelined(self._acks, sock, room_id, text, self._o.window, next_id, answered, end)

    async def close(self) -> None:
        for sock in self._sockets:
            close_websocket(sock)
        for conn in self._conns:
            conn.close()
