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
import functools
import itertools
import time
from collections.abc import Callable

import msgspec

from firebreak.bench.latency import latency
from firebreak.bench.live_sockets import LiveSockets
from firebreak.bench.load_shapes import BenchOptions, LoadResult, SeenFrame, SeenRoom, SeenSession
from firebreak.bench.texts import texts
from firebreak.bench.wire import HttpConnection, WireError, WireWebSocket
from firebreak.bench.ws_send import AckWaiter, send_pipelined
from firebreak.config import Config
from firebreak.retry import retry

_encode = msgspec.json.encode
PASSWORD = "bench password"
#: concurrent set-up requests (registrations, logins, room creations)
SETUP_CONCURRENCY = 32
#: How long a set-up call answered 503 (a saturated machine's log may time out) is asked again.
SETUP_RETRY_S = 60.0


class _Unavailable(WireError):
    """A 503: the DC may take the same call a moment later."""


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
        self._sockets = LiveSockets(self._on_frame, options.source_addresses, options.heartbeat_s)
        self._conns: list[HttpConnection] = []
        self.sent_at: dict[str, float] = {}
        #: every message should reach this many live connections (the online members of its room)
        self.online_per_room = 0
        #: (connection to the sender's DC, token, room id) per room
        self.senders: list[tuple[HttpConnection, str, str]] = []
        self._acks = AckWaiter()
        #: each sender's live socket (one per room; None when the sender is not online)
        self.sender_sockets: list[WireWebSocket | None] = []

    @property
    def listener_pids(self) -> list[int]:
        return self._sockets.listener_pids

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

        async def call_once(i: int, path: str, body: object, token: str | None) -> bytes:
            conn = await pools[i].get()
            try:
                status, data = await conn.post(path, _encode(body), token)
            finally:
                pools[i].put_nowait(conn)
            if status == 503:  # the DC asks to be asked again (every set-up call is idempotent)
                raise _Unavailable(f"{path} at dc {i}: {status} {data[:300]!r}")
            if status >= 300:
                raise WireError(f"{path} at dc {i}: {status} {data[:300]!r}")
            return data

        async def call(i: int, path: str, body: object, token: str | None = None) -> bytes:
            return await retry(
                functools.partial(call_once, i, path, body, token),
                retry_on=(_Unavailable,),
                deadline=time.monotonic() + SETUP_RETRY_S,
            )

        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        if self._o.listener_processes:
            await self._sockets.start_listeners(self._o.listener_processes)

        async def member(room: int, k: int) -> tuple[str, str]:
            i = (room + k) % n_dcs
            name = f"b{tag}r{room}m{k}"
            async with gate:
                await call(i, "/v1/accounts", {"username": name, "password": PASSWORD, "request_id": name})
                login = await call(i, "/v1/sessions", {"username": name, "password": PASSWORD})
            return name, msgspec.json.decode(login, type=SeenSession).token

        online_per_room = max(1, round(self._o.room_size * self._o.online))
        self.online_per_room = online_per_room
        for room in range(self._o.rooms):
            signing_up = time.perf_counter()
            members = await asyncio.gather(*(member(room, k) for k in range(self._o.room_size)))
            accounts_rate = len(members) / max(time.perf_counter() - signing_up, 1e-6)
            sender_token = members[0][1]
            names = [n for n, _ in members[1:]]
            group = {"name": f"bench {room}", "members": names, "request_id": f"g{room}"}
            made = await call(room % n_dcs, "/v1/rooms", group, sender_token)
            room_id = msgspec.json.decode(made, type=SeenRoom).room_id
            self.senders.append((await self._connection(room), sender_token, room_id))
            online = enumerate(members[:online_per_room])
            dials = [self._sockets.dial(*self._dc(room + k), token) for k, (_, token) in online]
            opening, cpu_before = time.perf_counter(), self._cpu()
            # The sender is the room's first member, online first: its socket is this process's.
            sender_socket = await self._sockets.open(dials)
            took = time.perf_counter() - opening
            self._connect_s += took
            cpu_after = self._cpu()
            self._connect_cpu = (
                self._connect_cpu[0] + cpu_after[0] - cpu_before[0],
                self._connect_cpu[1] + cpu_after[1] - cpu_before[1],
            )
            self.sender_sockets.append(sender_socket)
            # Per room, so that how set-up cost changes as sockets accumulate shows in one run.
            gateways_ms = (cpu_after[0] - cpu_before[0]) * 1000 / len(dials)
            rate = len(dials) / max(took, 1e-6)
            self._say(
                f"  room {room + 1}/{self._o.rooms} ready ({len(members)} accounts registered and"
                f" logged in at {accounts_rate:,.0f}/s; {online_per_room} members online: "
                f"{rate:,.0f} sockets/s, gateways {gateways_ms:.2f} ms of CPU per socket)"
            )

    def _on_frame(self, frame: SeenFrame) -> None:
        if frame.kind == "ack" and frame.ref is not None:
            self._acks.heard(frame.ref, frame.status)

    async def run(self) -> LoadResult:
        acks: list[float] = []
        self._failed = 0
        pool = texts(self._o.text, self._o.message_size)
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
                    await self._pipelined(sock, room_id, pool, end, acks)
                    return
                numbers = [next(self._counter) for _ in range(n)]
                cids = [f"m{k}" for k in numbers]
                body = [
                    {"client_id": cid, "text": pool[k % len(pool)]}
                    for cid, k in zip(cids, numbers, strict=True)
                ]
                started = time.perf_counter()
                for cid in cids:
                    self.sent_at[cid] = started
                if over_ws and sock is not None:
                    status = await self._acks.send(sock, room_id, cids[0], body[0]["text"])
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
            await self._sockets.refresh()
            if all(self._sockets.reached(cid)[0] >= want for cid in self.sent_at):
                break
            await asyncio.sleep(0.05 if not self.listener_pids else 0.25)
        await self._sockets.refresh()  # what arrived during the last wait counts too
        reached = {cid: self._sockets.reached(cid) for cid in self.sent_at}
        to_all = [reached[cid][1] - t for cid, t in self.sent_at.items() if reached[cid][0] >= want]
        deliveries = self._sockets.deliveries()
        sockets = self._sockets.count
        return LoadResult(
            messages=len(acks),
            seconds=round(took, 3),
            per_s=round(len(acks) / took, 1),
            deliveries=deliveries,
            deliveries_per_s=round(deliveries / took, 1),
            online_clients=sockets,
            connects_per_s=round(sockets / max(self._connect_s, 1e-9), 1),
            connect_cpu_ms_gateways=round(self._connect_cpu[0] * 1000 / max(1, sockets), 3),
            connect_cpu_ms_load=round(self._connect_cpu[1] * 1000 / max(1, sockets), 3),
            send_to_ack=latency(acks),
            send_to_all_delivered=latency(to_all),
            undelivered_messages=len(self.sent_at) - len(to_all),
            failed_sends=self._failed,
            source_addresses=len(self._sockets.sources()),
        )

    async def _pipelined(
        self, sock: WireWebSocket, room_id: str, pool: list[str], end: float, acks: list[float]
    ) -> None:
        """One sender with ``window`` sends in flight on its socket (bench/ws_send.py). The text
        follows the message number shared by all senders, as over HTTP: the pool's texts in turn."""

        def next_send() -> tuple[str, str] | None:
            if next(self._budget) >= self._o.max_messages:
                return None
            k = next(self._counter)
            cid = f"m{k}"
            self.sent_at[cid] = time.perf_counter()
            return cid, pool[k % len(pool)]

        def answered(cid: str, status: int) -> None:
            if 200 <= status < 300:
                acks.append(time.perf_counter() - self.sent_at[cid])
            else:
                self._failed += 1
                self.sent_at.pop(cid, None)

        await send_pipelined(self._acks, sock, room_id, self._o.window, next_send, answered, end)

    async def close(self) -> None:
        for conn in self._conns:
            conn.close()
        await self._sockets.close()
