"""The bench's live sockets: the ones this process holds (the senders', or every one) and the ones
its listener processes hold (bench/listeners.py), with what they all received."""

from __future__ import annotations

import asyncio
import itertools
import urllib.parse
from collections.abc import Callable, Sequence

from firebreak.bench.arrivals import Arrivals, ReadyFrames, decode_frame
from firebreak.bench.connections import source_address
from firebreak.bench.listener_wire import READY_WAIT_S, Dial
from firebreak.bench.listeners import Listeners
from firebreak.bench.load_shapes import SeenFrame
from firebreak.bench.wire import WireWebSocket, close_websocket, local_hosts, open_websocket

#: concurrent WebSocket handshakes: clients that come online do not wait for each other, so the
#: connection rate is the gateways' (and this process's), not one client's round trip times 32
CONNECT_CONCURRENCY = 256


class LiveSockets:
    """``on_frame`` hears this process's frames that deliver no message (acks, ...); every socket
    asks for a heartbeat every ``heartbeat_s`` (None: the server's default)."""

    def __init__(
        self, on_frame: Callable[[SeenFrame], None], source_addresses: int, heartbeat_s: int | None = None
    ) -> None:
        self._on_frame = on_frame
        self._query: dict[str, str] = {} if heartbeat_s is None else {"heartbeat_s": str(heartbeat_s)}
        self._source_addresses = source_addresses
        self._counter = itertools.count()
        self._handshakes = asyncio.Semaphore(CONNECT_CONCURRENCY)
        self._own: list[WireWebSocket] = []
        self._arrivals = Arrivals()
        self._ready = ReadyFrames()
        self._listeners: Listeners | None = None
        #: sockets the listeners hold
        self._listened = 0

    async def start_listeners(self, count: int) -> None:
        """From now on, all but the first socket of each ``open`` go to ``count`` processes."""
        # One listener at a time opens sockets (bench/listeners.py), with every handshake in flight.
        self._listeners = await Listeners.start(count, CONNECT_CONCURRENCY)

    @property
    def listener_pids(self) -> list[int]:
        return [] if self._listeners is None else self._listeners.pids

    @property
    def count(self) -> int:
        return len(self._own) + self._listened

    def dial(self, host: str, port: int, token: str) -> Dial:
        path = "/v1/ws?" + urllib.parse.urlencode({"token": token, **self._query})
        return Dial(host, port, path, source_address(next(self._counter), self._source_addresses))

    async def open(self, dials: Sequence[Dial]) -> WireWebSocket:
        """Opens ``dials`` (the first one here, the others at the listeners if there are some)
        and returns the first once every one has had its ``ready`` frame."""
        own = dials if self._listeners is None else dials[:1]
        theirs = dials[len(own) :]
        socks, _ = await asyncio.gather(
            asyncio.gather(*(self._connect(d) for d in own)), self._listen(theirs)
        )
        await self._ready.until(len(self._own), READY_WAIT_S)
        return socks[0]

    async def _connect(self, to: Dial) -> WireWebSocket:
        async with self._handshakes:
            sock = await open_websocket(to.host, to.port, to.path, self._on_text, to.source)
            self._own.append(sock)
            return sock

    async def _listen(self, dials: Sequence[Dial]) -> None:
        if self._listeners is not None and dials:
            await self._listeners.connect(dials)
            self._listened += len(dials)

    def _on_text(self, payload: bytes) -> None:
        frame = decode_frame(payload)
        if self._arrivals.hear(frame):
            return
        if frame.kind == "ready":
            self._ready.heard()
        else:
            self._on_frame(frame)

    async def refresh(self) -> None:
        """Brings the listeners' counts up to date (they are fetched, not pushed)."""
        if self._listeners is not None:
            await self._listeners.refresh()

    def reached(self, client_id: str) -> tuple[int, float]:
        """(live sockets that received ``client_id``, when the last did), as of the last refresh."""
        own = self._arrivals.seen.get(client_id)
        count, last = (0, 0.0) if own is None else (own.count, own.last)
        if self._listeners is not None:
            theirs, their_last = self._listeners.arrival(client_id)
            count, last = count + theirs, max(last, their_last)
        return count, last

    def deliveries(self) -> int:
        theirs = 0 if self._listeners is None else self._listeners.deliveries()
        return self._arrivals.deliveries() + theirs

    def sources(self) -> set[str]:
        """The local addresses the sockets connected from."""
        theirs = set() if self._listeners is None else self._listeners.sources()
        return local_hosts(self._own) | theirs

    async def close(self) -> None:
        for sock in self._own:
            close_websocket(sock)
        if self._listeners is not None:
            await self._listeners.close()
