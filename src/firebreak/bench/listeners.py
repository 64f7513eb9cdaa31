"""The bench's listener processes, seen from its main process: receive-only live sockets beyond
what one process may hold (bench/listener_wire.py says why and how they talk).

The main process keeps the senders and their sockets (their acks and the set-up are its own); the
other online members of each room go to the listeners, one listener's turn at a time (``turns``),
which count what each message reached. Their clocks agree with the main process's
(``time.perf_counter`` is the system's monotonic clock), so a message's time to its last member
spans processes.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Sequence

from firebreak.bench.listener_wire import (
    READY_WAIT_S,
    Answer,
    Arrival,
    Connect,
    Dial,
    Opened,
    Report,
    Request,
    Tally,
    decode_answer,
    encode,
)
from firebreak.bench.wire import WireError

#: receive-only sockets per listener process when the bench chooses their number: well under a
#: usual hard limit of open files per process (docs/PERFORMANCE.md has this project's machines')
SOCKETS_PER_LISTENER = 15_000
#: longest answer line (a tally of every message of a run)
MAX_LINE = 1 << 26
#: how long one answer may take (a Connect waits for its ``ready`` frames, then answers)
ANSWER_WAIT_S = 2 * READY_WAIT_S


def listeners_for(sockets: int) -> int:
    """How many listener processes hold ``sockets`` receive-only sockets (0: the main process
    holds them, as long as they fit in one)."""
    return 0 if sockets <= SOCKETS_PER_LISTENER else math.ceil(sockets / SOCKETS_PER_LISTENER)


#: sockets one listener opens before the next takes over: a room of 1,000 is one listener's turn,
#: and a listener holds at most one turn more than an even share (bench_cli sizes its open files)
SOCKETS_PER_TURN = 1_000


def turns(
    dials: Sequence[Dial], held: Sequence[int], per_turn: int = SOCKETS_PER_TURN
) -> list[tuple[int, list[Dial]]]:
    """``dials`` in turns of up to ``per_turn`` sockets, each for the listener that holds the
    fewest sockets then (``held``: what each holds now; ties go to the first).

    Why turns and not every socket dealt round-robin: one listener at a time, with all the
    handshakes in flight, keeps the other listener processes asleep. With every listener opening
    its slice of each room at once, seven processes woke for a few handshakes each, and the
    gateways' CPU per socket rose with the load generator's (docs/PERFORMANCE.md, "Many
    connections")."""
    counts = list(held)
    planned: list[tuple[int, list[Dial]]] = []
    for start in range(0, len(dials), per_turn):
        chunk = list(dials[start : start + per_turn])
        who = min(range(len(counts)), key=counts.__getitem__)
        counts[who] += len(chunk)
        planned.append((who, chunk))
    return planned


class _Listener:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._turn = asyncio.Lock()

    async def ask(self, request: Request) -> Answer:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        async with self._turn:  # one request at a time: answers come in order
            stdin.write(encode(request) + b"\n")
            await stdin.drain()
            line = await asyncio.wait_for(stdout.readline(), ANSWER_WAIT_S)
        if not line:
            raise WireError(f"listener process {self.process.pid} ended")
        return decode_answer(line)


class Listeners:
    """``count`` listener processes, each opening up to ``concurrency`` handshakes at a time (one
    of them at a time opens sockets)."""

    def __init__(self) -> None:
        self._listeners: list[_Listener] = []
        self._tallies: list[Tally] = []
        #: sockets each listener holds
        self._held: list[int] = []

    @classmethod
    async def start(cls, count: int, concurrency: int) -> Listeners:
        started = cls()
        try:
            for _ in range(count):
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "firebreak.bench.listener_worker", str(max(1, concurrency)),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=MAX_LINE,
                )  # fmt: skip
                started._listeners.append(_Listener(process))
                started._tallies.append(Tally({}, []))
                started._held.append(0)
        except BaseException:
            await started.close()
            raise
        return started

    @property
    def pids(self) -> list[int]:
        return [one.process.pid for one in self._listeners]

    async def connect(self, dials: Sequence[Dial]) -> None:
        """Opens ``dials``, in turns of one listener at a time (:func:`turns`); returns once each
        had its ``ready`` frame (raises WireError if one could not be opened)."""
        for who, chunk in turns(dials, self._held):
            answer = await self._listeners[who].ask(Connect(chunk))
            assert isinstance(answer, Opened)
            self._held[who] = answer.ready
            if answer.failed or answer.error:
                raise WireError(f"a listener could not open {answer.failed} sockets: {answer.error}")

    async def refresh(self) -> None:
        """Fetches what every listener's sockets have received so far."""
        answers = await asyncio.gather(*(one.ask(Report()) for one in self._listeners))
        self._tallies = [a for a in answers if isinstance(a, Tally)]

    def arrival(self, client_id: str) -> tuple[int, float]:
        """(sockets of all listeners that received ``client_id``, when the last did; 0.0 if none),
        as of the last refresh."""
        count, last = 0, 0.0
        for tally in self._tallies:
            seen: Arrival | None = tally.arrivals.get(client_id)
            if seen is not None:
                count += seen.count
                last = max(last, seen.last)
        return count, last

    def deliveries(self) -> int:
        return sum(a.count for t in self._tallies for a in t.arrivals.values())

    def sources(self) -> set[str]:
        return {s for t in self._tallies for s in t.sources}

    async def close(self) -> None:
        """Closes the listeners' stdin: each closes its sockets and ends."""
        for one in self._listeners:
            if one.process.stdin is not None:
                one.process.stdin.close()
        for one in self._listeners:
            try:
                await asyncio.wait_for(one.process.wait(), 10)
            except TimeoutError:
                one.process.kill()
                await one.process.wait()
