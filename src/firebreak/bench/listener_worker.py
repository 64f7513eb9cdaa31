"""A listener process of the bench (``python -m firebreak.bench.listener_worker CONCURRENCY``):
holds receive-only live sockets for the main process (bench/listeners.py) and counts what they
receive. Requests come on stdin, answers go to stdout (bench/listener_wire.py); it ends, closing
its sockets, when stdin closes."""

from __future__ import annotations

import asyncio
import sys

import uvloop

from firebreak.bench.arrivals import Arrivals, ReadyFrames, decode_frame
from firebreak.bench.listener_wire import (
    READY_WAIT_S,
    Connect,
    Dial,
    Opened,
    Tally,
    decode_request,
    encode,
)
from firebreak.bench.wire import WireWebSocket, close_websocket, local_hosts, open_websocket


class Listener:
    def __init__(self, concurrency: int) -> None:
        self._handshakes = asyncio.Semaphore(concurrency)
        self._sockets: list[WireWebSocket] = []
        self._arrivals = Arrivals()
        self._ready = ReadyFrames()

    def on_text(self, payload: bytes) -> None:
        frame = decode_frame(payload)
        if not self._arrivals.hear(frame) and frame.kind == "ready":
            self._ready.heard()

    async def _open(self, dial: Dial) -> None:
        async with self._handshakes:
            sock = await open_websocket(dial.host, dial.port, dial.path, self.on_text, dial.source)
            self._sockets.append(sock)

    async def connect(self, request: Connect) -> Opened:
        outcomes = await asyncio.gather(*(self._open(d) for d in request.dials), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        ready = self._ready
        try:
            await ready.until(len(self._sockets), READY_WAIT_S)
        except TimeoutError:
            return Opened(ready.count, len(failures), f"only {ready.count} of {len(self._sockets)} ready")
        return Opened(ready.count, len(failures), repr(failures[0]) if failures else "")

    def tally(self) -> Tally:
        return Tally(self._arrivals.seen, sorted(local_hosts(self._sockets)))

    def close(self) -> None:
        for sock in self._sockets:
            close_websocket(sock)


async def main(concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    listener = Listener(concurrency)
    try:
        while line := await reader.readline():
            request = decode_request(line)
            answer: Opened | Tally
            if isinstance(request, Connect):
                answer = await listener.connect(request)
            else:
                answer = listener.tally()
            out.write(encode(answer) + b"\n")
            out.flush()
    finally:
        listener.close()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
