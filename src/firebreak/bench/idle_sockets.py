"""What an open, idle WebSocket costs its server and its client each second, with uvicorn's pings
or without (``python -m firebreak.bench.idle_sockets --sockets 14000 --ping-s 30``, then
``--ping-s 0``): the gateway's WebSocket protocol under uvicorn with a bare app (accept, one text
frame, then only the connection), no Firebreak session, so that only the server library's and the
kernel's part shows.

The server runs in a child process; the client holds every socket in this one, answering pings
as the bench's load generator does (bench/wire.py). Lines: the set-up CPU of each step of
sockets, then the server's and the client's CPU per socket per second over each idle window. One
server process holds at most :data:`MOST_SOCKETS` (the open-files limit of a process here is
20,000). Everything stops by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time

import uvloop
from starlette.types import Receive, Scope, Send

from firebreak.bench.connections import raise_open_files
from firebreak.bench.procstats import sample
from firebreak.bench.wire import WireWebSocket, close_websocket, open_websocket
from firebreak.retry import retry

MOST_SOCKETS = 19_000
#: The client picks its ports by ``connect()`` from one source address: past about half the
#: ephemeral range (~14,000 here) that search costs it more than the sockets (bench/port_search.py).
DEFAULT_SOCKETS = 14_000
#: sockets per set-up line, and handshakes at a time (as the many-connections bench)
STEP = 1_000
AT_ONCE = 256
#: the child's uvicorn: a listen queue for AT_ONCE handshakes and more
BACKLOG = 4096
LONGEST_S = 3600.0
READY = b'{"kind":"ready"}'


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, one frame, then wait for the client to leave (what an idle live socket is)."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": READY.decode()})
    while (await receive())["type"] != "websocket.disconnect":
        pass


def _serve(port: int, ping_s: float) -> None:
    # Imported here: only the child serves, and the parent should measure without the server's
    # modules in its own heap.
    import uvicorn

    from firebreak.entrypoints.gateway import gc_policy
    from firebreak.entrypoints.gateway.websocket import SendNowWebSocketProtocol

    raise_open_files(MOST_SOCKETS + 100)
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws=SendNowWebSocketProtocol,
        http="httptools",
        loop="uvloop",
        ws_per_message_deflate=False,
        ws_ping_interval=ping_s or None,
        ws_ping_timeout=20,  # the gateway's fallback (liveness.py)
        proxy_headers=False,
        backlog=BACKLOG,
    )
    gc_policy.settle()
    uvicorn.Server(config).run()


def _cpu(pid: int) -> float:
    return sample(pid).cpu_s


async def _open(port: int, held: list[WireWebSocket], gate: asyncio.Semaphore) -> None:
    async with gate:
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_text(_: bytes) -> None:
            if not first.done():
                first.set_result(None)

        held.append(await open_websocket("127.0.0.1", port, "/", on_text))
        await first


async def _measure(args: argparse.Namespace, server: subprocess.Popen[bytes], port: int) -> None:
    held: list[WireWebSocket] = []
    deadline = time.monotonic() + args.timeout

    async def listening() -> None:
        if server.poll() is not None:
            sys.exit("stopped: the server exited")
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
        writer.close()

    try:
        try:
            await retry(listening, retry_on=(OSError, TimeoutError), deadline=deadline)
        except (OSError, TimeoutError):
            sys.exit("stopped: the server did not start")
        pings = f"every {args.ping_s:g} s" if args.ping_s else "off"
        print(f"{args.sockets:,} sockets, pings {pings}")
        gate = asyncio.Semaphore(AT_ONCE)
        while len(held) < args.sockets:
            n = min(STEP, args.sockets - len(held))
            before, mine, started = _cpu(server.pid), time.process_time(), time.perf_counter()
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(_open(port, held, gate) for _ in range(n))), deadline - time.monotonic()
                )
            except TimeoutError:
                sys.exit(f"stopped: time ran out with {len(held):,} sockets open")
            took = time.perf_counter() - started
            print(
                f"{len(held):7,d} open: {n / took:6,.0f}/s, CPU per socket: server "
                f"{(_cpu(server.pid) - before) * 1e3 / n:.3f} ms, client "
                f"{(time.process_time() - mine) * 1e3 / n:.3f} ms",
                flush=True,
            )
        for _ in range(args.windows):
            if time.monotonic() + args.window_s > deadline:
                sys.exit("stopped: time ran out")
            before, mine, started = _cpu(server.pid), time.process_time(), time.perf_counter()
            await asyncio.sleep(args.window_s)  # the measurement window: nothing is sent
            per = 1e6 / (time.perf_counter() - started) / len(held)
            print(
                f"idle over {args.window_s:g} s: server {(_cpu(server.pid) - before) * per:.2f} µs, "
                f"client {(time.process_time() - mine) * per:.2f} µs per socket per second",
                flush=True,
            )
    finally:
        for proto in held:
            close_websocket(proto)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=DEFAULT_SOCKETS, help=f"1-{MOST_SOCKETS:,}")
    parser.add_argument("--ping-s", type=float, default=30.0, help="uvicorn's ping interval; 0: none")
    parser.add_argument("--window-s", type=float, default=15.0, help="each idle window, 1-60 s")
    parser.add_argument("--windows", type=int, default=4, help="idle windows, 1-10")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before everything stops")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the child: the port
    args = parser.parse_args()
    if args.serve is not None:
        _serve(args.serve, args.ping_s)
        return
    if not 1 <= args.sockets <= MOST_SOCKETS:
        parser.error(f"--sockets takes 1-{MOST_SOCKETS:,}")
    if not 1 <= args.window_s <= 60 or not 1 <= args.windows <= 10:
        parser.error("--window-s takes 1-60, --windows 1-10")
    if not 0 <= args.ping_s <= LONGEST_S or not 1 <= args.timeout <= LONGEST_S:
        parser.error(f"--ping-s takes 0-{LONGEST_S:g}, --timeout 1-{LONGEST_S:g}")
    if raise_open_files(args.sockets + 100) < args.sockets + 100:
        parser.error(f"this process needs {args.sockets + 100:,} open files")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = [sys.executable, "-m", "firebreak.bench.idle_sockets", "--serve", str(port)]
    server = subprocess.Popen([*child, "--ping-s", str(args.ping_s)])
    try:
        uvloop.run(_measure(args, server, port))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
