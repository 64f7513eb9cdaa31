"""The links between DCs as a process: a fault-injecting TCP proxy on every directed route.

``python -m firebreak.localcluster.linkproxy`` is started by :class:`~firebreak.localcluster.links.
LinkProxies`, which owns its stdin and stdout: the first line it reads is the plan (which port
stands for which directed link, and where that link leads), it answers one line when it listens,
then every further line is a request and gets one answer line (JSON both ways). Only the process
that started it can change its faults.

A connection accepted on the port of link ``a>b`` comes from DC ``a``'s nats-server and goes to
``b``'s route port. Bytes from ``a`` to ``b`` suffer link ``a>b``'s faults, the answers link
``b>a``'s (linkfaults.py), so either direction of a pair can be degraded alone. The proxy runs in
a process of its own so that a busy load generator or drill does not add its own delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
from collections import defaultdict
from typing import Any

import msgspec

from firebreak.errors import FirebreakError
from firebreak.localcluster.linkfaults import LinkFault, release_at

#: Bytes read at a time, and chunks held per direction before the reader waits (backpressure).
CHUNK = 65536
QUEUE_CHUNKS = 256


class Listen(msgspec.Struct, frozen=True):
    src: str
    dst: str
    port: int
    target_host: str
    target_port: int
    host: str = "127.0.0.1"


class Plan(msgspec.Struct, frozen=True):
    links: list[Listen]
    faults: dict[str, LinkFault] = {}
    seed: int | None = None


def link_name(src: str, dst: str) -> str:
    return f"{src}>{dst}"


class _Conn:
    """One proxied connection: the accepted side and the side towards the link's target."""

    def __init__(self, listen: Listen, inner: asyncio.StreamWriter, outer: asyncio.StreamWriter) -> None:
        self.listen = listen
        self.inner = inner
        self.outer = outer

    def abort(self) -> None:
        for w in (self.inner, self.outer):
            w.transport.abort()

    def uses(self, link: str) -> bool:
        return link in (
            link_name(self.listen.src, self.listen.dst),
            link_name(self.listen.dst, self.listen.src),
        )


class LinkProxy:
    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._faults: dict[str, LinkFault] = dict(plan.faults)
        self._rng = random.Random(plan.seed)
        self._conns: set[_Conn] = set()
        self._servers: list[asyncio.Server] = []
        #: bytes carried per directed link, and connections accepted per listener
        self.carried: dict[str, int] = defaultdict(int)
        self.accepted: dict[str, int] = defaultdict(int)

    def fault(self, link: str) -> LinkFault:
        return self._faults.get(link, LinkFault())

    async def start(self) -> None:
        for listen in self._plan.links:

            async def on_connect(
                r: asyncio.StreamReader, w: asyncio.StreamWriter, listen: Listen = listen
            ) -> None:
                await self._serve(listen, r, w)

            self._servers.append(await asyncio.start_server(on_connect, listen.host, listen.port))

    async def _serve(
        self, listen: Listen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        forward, back = link_name(listen.src, listen.dst), link_name(listen.dst, listen.src)
        self.accepted[forward] += 1
        if self.fault(forward).cut or self.fault(back).cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(listen.target_host, listen.target_port)
        except OSError:
            writer.transport.abort()
            return
        conn = _Conn(listen, writer, up_writer)
        self._conns.add(conn)
        try:
            pipes = [
                asyncio.create_task(self._pipe(reader, up_writer, forward)),
                asyncio.create_task(self._pipe(up_reader, writer, back)),
            ]
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for task in pipes:
                task.cancel()
        finally:
            self._conns.discard(conn)
            conn.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: str) -> None:
        """Carries one direction: chunks go out at their release time, in the order they came."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS)

        async def pump() -> None:
            previous = 0.0
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(CHUNK):
                    previous = release_at(self.fault(link), loop.time(), previous, len(data), self._rng)
                    await queue.put((previous, data))
            await queue.put(None)

        reading = asyncio.create_task(pump())
        try:
            while (item := await queue.get()) is not None:
                at, data = item
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                self.carried[link] += len(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            reading.cancel()

    def set(self, links: list[str], fault: LinkFault) -> None:
        known = {link_name(x.src, x.dst) for x in self._plan.links}
        unknown = [link for link in links if link not in known]
        if unknown:
            raise ValueError(f"unknown links {unknown}; known: {sorted(known)}")
        for link in links:
            self._faults[link] = fault
        if fault.cut:
            for conn in [c for c in self._conns if any(c.uses(link) for link in links)]:
                conn.abort()
                self._conns.discard(conn)

    def status(self) -> dict[str, Any]:
        return {
            "faults": {
                link_name(x.src, x.dst): msgspec.to_builtins(self.fault(link_name(x.src, x.dst)))
                for x in self._plan.links
            },
            "carried": dict(self.carried),
            "accepted": dict(self.accepted),
            # The ports the proxy's own side of each connection uses towards the target: what the
            # target's nats-server sees as the route's remote port (tests check /routez with it).
            "outbound_ports": sorted(c.outer.get_extra_info("sockname")[1] for c in self._conns),
            "connections": len(self._conns),
        }

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        action = request.get("action")
        if action == "set":
            fault = msgspec.convert(request.get("fault", {}), LinkFault).check()
            self.set([str(x) for x in request.get("links", [])], fault)
        elif action != "status":
            raise ValueError(f"unknown action {action!r}")
        return self.status()


async def _lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main() -> None:
    lines = await _lines()
    plan = msgspec.json.decode(await lines.readline(), type=Plan)
    proxy = LinkProxy(plan)
    await proxy.start()
    _answer({"ok": proxy.status()})
    while line := await lines.readline():
        try:
            _answer({"ok": proxy.handle(json.loads(line))})
        except FirebreakError as exc:
            _answer({"error": exc.message})
        except (ValueError, msgspec.ValidationError) as exc:
            _answer({"error": str(exc)})
        except Exception as exc:  # the caller gets every failure as an answer, never silence
            _answer({"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except KeyboardInterrupt:
        pass
