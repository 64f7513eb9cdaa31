"""What the bench's main process and its listener processes (bench/listener_worker.py) say to each
other: one JSON document per line, over the listener's stdin and stdout.

A listener holds live sockets that only receive (the members of a room other than its sender), so
that one load generator can hold more sockets than one process may open (bench/connections.py).
It answers every request in order, one answer per request:

* ``Connect`` (open these sockets) → ``Opened`` once every one of them had its ``ready`` frame;
* ``Report`` → ``Tally``: what every socket of it has received so far (cumulative).
"""

from __future__ import annotations

import msgspec


class Dial(msgspec.Struct, frozen=True, array_like=True):
    """One live socket to open: the gateway, the path with the token, the local source address."""

    host: str
    port: int
    path: str
    source: str | None = None


class Connect(msgspec.Struct, frozen=True, tag="connect"):
    dials: list[Dial]


class Report(msgspec.Struct, frozen=True, tag="report"):
    pass


class Opened(msgspec.Struct, frozen=True, tag="opened"):
    #: sockets of this listener that have had their ``ready`` frame, in all
    ready: int
    #: sockets of the request that could not be opened (the first reason in ``error``)
    failed: int = 0
    error: str = ""


class Arrival(msgspec.Struct, array_like=True):
    """How many of a listener's sockets received a message, and when the last did
    (``time.perf_counter()``: the system's monotonic clock, the same in every process)."""

    count: int
    last: float


class Tally(msgspec.Struct, frozen=True, tag="tally"):
    #: by the message's client id
    arrivals: dict[str, Arrival]
    #: distinct local addresses of this listener's sockets
    sources: list[str]


#: how long a room's sockets may take to have their ``ready`` frames, wherever they are held
READY_WAIT_S = 120.0

Request = Connect | Report
Answer = Opened | Tally

encode = msgspec.json.Encoder().encode
decode_request = msgspec.json.Decoder(Request).decode
decode_answer = msgspec.json.Decoder(Answer).decode
