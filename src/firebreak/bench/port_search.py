"""What choosing a local port costs the load generator as its sockets accumulate
(``python -m firebreak.bench.port_search --sockets 100000 --sources 4 --mode bind``): plain TCP
connections, no gateway, no WebSocket, so only the kernel's part of opening a socket is measured.

``--mode bind`` binds each socket to its source address with port 0, as asyncio's ``local_addr``
does; ``--mode no-port`` sets ``IP_BIND_ADDRESS_NO_PORT`` first, as the bench does
(bench/connections.py says why). Sockets go round-robin over ``--sources`` loopback source
addresses and three listening ports (one per DC; the bench at 100,000 has six gateway processes
behind three ports, the same three destinations). Each line gives the CPU (user and kernel) of the
connecting process and the wall time per connection of the last ``--step`` connections. Acceptors
and clients are forked processes, each within the open-files limit of one process; all of them end
by ``--timeout``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import socket
import sys
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from firebreak.bench.connections import MAX_SOURCE_ADDRESSES, bound_socket, raise_open_files, source_address
from firebreak.localcluster.processes import ephemeral_ports

#: connections per report line, and per client process (well within 20,000 open files); a smaller
#: ``--step`` is for trying the tool out
STEP = 10_000
LEAST_STEP = 100
#: processes accepting on each of the three ports, each holding at most MAX_ACCEPTED
ACCEPTORS_PER_PORT = 3
MAX_ACCEPTED = 19_000
#: what the bench holds at most, and what this measures at most
MOST_SOCKETS = 100_000

#: forked: the children inherit the listening sockets
_ctx = multiprocessing.get_context("fork")


def _accept(listener: socket.socket, stop: Event, deadline: float, accepted: Queue[int]) -> None:
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    while not stop.is_set() and time.monotonic() < deadline and len(held) < MAX_ACCEPTED:
        try:
            held.append(listener.accept()[0])
        except TimeoutError:
            continue
    stop.wait(max(0.0, deadline - time.monotonic()))  # holds what it accepted until the end
    while len(held) < MAX_ACCEPTED:  # what is still queued: connected, not yet accepted
        try:
            held.append(listener.accept()[0])
        except TimeoutError:
            break
    accepted.put(len(held))


def _connect(
    first: int,
    step: int,
    sources: int,
    ports: list[int],
    no_port: bool,
    out: Queue[str],
    stop: Event,
    deadline: float,
) -> None:
    held: list[socket.socket] = []
    before, started = os.times(), time.perf_counter()
    for i in range(first, first + step):
        sock = bound_socket(source_address(i, sources) or "", port_at_connect=no_port)
        sock.connect(("127.0.0.1", ports[i % len(ports)]))
        held.append(sock)
    now, at = os.times(), time.perf_counter()
    cpu, kernel = now.user + now.system - before.user - before.system, now.system - before.system
    out.put(
        f"{first + step:7,d} sockets: {cpu * 1e6 / step:7.0f} µs CPU per connection "
        f"(kernel {kernel * 1e6 / step:.0f}), {(at - started) * 1e6 / step:.0f} µs wall"
    )
    stop.wait(max(0.0, deadline - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=MOST_SOCKETS, help="a multiple of --step")
    parser.add_argument("--step", type=int, default=STEP, help=f"connections per line, {LEAST_STEP}-{STEP:,}")
    parser.add_argument("--sources", type=int, default=4, help="loopback source addresses")
    parser.add_argument("--mode", choices=("bind", "no-port"), default="no-port")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before everything stops")
    args = parser.parse_args()
    if not LEAST_STEP <= args.step <= STEP:
        parser.error(f"--step takes {LEAST_STEP}-{STEP:,}")
    if not args.step <= args.sockets <= MOST_SOCKETS or args.sockets % args.step:
        parser.error(f"--sockets takes a multiple of --step ({args.step:,}) up to {MOST_SOCKETS:,}")
    if not 2 <= args.sources <= MAX_SOURCE_ADDRESSES:
        parser.error(f"--sources takes 2-{MAX_SOURCE_ADDRESSES}")
    if args.mode == "bind" and args.sockets / args.sources > len(ephemeral_ports()):
        parser.error("--mode bind: more sockets per source address than the ephemeral port range")
    if raise_open_files(MAX_ACCEPTED + 100) < MAX_ACCEPTED + 100:
        parser.error(f"each process needs {MAX_ACCEPTED + 100:,} open files")
    stop = _ctx.Event()
    deadline = time.monotonic() + args.timeout
    listeners = []
    for _ in range(3):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4096)
        listeners.append(listener)
    ports = [s.getsockname()[1] for s in listeners]
    out: Queue[str] = _ctx.Queue()
    accepted: Queue[int] = _ctx.Queue()
    acceptors = [
        _ctx.Process(target=_accept, args=(s, stop, deadline, accepted))
        for s in listeners
        for _ in range(ACCEPTORS_PER_PORT)
    ]
    procs = list(acceptors)
    for proc in procs:
        proc.start()
    print(f"{args.sockets:,} connections from {args.sources} source addresses, --mode {args.mode}")
    try:
        for first in range(0, args.sockets, args.step):
            client = _ctx.Process(
                target=_connect,
                args=(first, args.step, args.sources, ports, args.mode == "no-port", out, stop, deadline),
            )
            client.start()
            procs.append(client)
            while True:
                try:
                    print(out.get(timeout=1), flush=True)
                    break
                except queue.Empty:
                    if client.exitcode is not None or time.monotonic() > deadline:
                        sys.exit(f"stopped: the client process for sockets {first:,}.. ended or time ran out")
        stop.set()
        # The figures count only if every connection was made: the acceptors say how many.
        total = sum(accepted.get(timeout=max(1.0, deadline - time.monotonic())) for _ in acceptors)
        print(f"{total:,} of {args.sockets:,} connections accepted", flush=True)
        if total != args.sockets:
            sys.exit("stopped: connections were lost")
    finally:
        stop.set()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


if __name__ == "__main__":
    main()
