"""Follows one stream by reading this DC's own replica of it: in order, without gaps, and without
depending on any other DC.

Why not a JetStream consumer: an ephemeral consumer lives on whichever node JetStream picks, often
in another DC. When that DC burned, this DC's read model stopped for seconds although its own
replica kept receiving every entry (measured: a 3.9 s stall on a stream led by a surviving DC).
Streams are created with ``allow_direct``, so every replica answers batched direct-get requests and
NATS hands a request to the local replica first; a DC's read model then needs only its own node.

State machine::

    STARTING --first read--> READING --caught up--> IDLE --doorbell or poll--> READING
        any read error --> BACKOFF --> READING

* **Doorbell.** A plain NATS subscription on the stream's subjects sees every publish (even ones
  JetStream later rejects): it only says "read now", never supplies data.
* **Chase.** The doorbell can beat the local replica's commit by a millisecond or two, so after a
  ring an empty read is retried at 1, 2, 4 ... 64 ms before going idle.
* **Poll.** Idle readers also read every ``poll_s`` seconds, so a lost doorbell costs latency, never
  data.
* **No gaps.** Every entry must carry exactly the next sequence; anything else is refused and
  re-read. These streams never delete entries, so sequences are dense.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import logging
import time

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger(__name__)

#: One entry handed to the projector: (stream name, stream sequence, payload).
Entry = tuple[str, int, bytes]


class ReadState(enum.Enum):
    STARTING = "starting"
    READING = "reading"
    IDLE = "idle"
    BACKOFF = "backoff"


class ReadError(Exception):
    """A batch could not be read (timeout, out-of-order entry, error status)."""


class ReplicaReader:
    def __init__(
        self,
        nc: NATS,
        stream: str,
        subjects: str,
        next_seq: int,
        out: asyncio.Queue[Entry],
        *,
        batch: int = 512,
        poll_s: float = 0.5,
        request_timeout_s: float = 2.0,
    ) -> None:
        self._nc = nc
        self.stream = stream
        self._subjects = subjects
        self.next_seq = next_seq
        self._out = out
        self._batch = batch
        self._poll_s = poll_s
        self._timeout = request_timeout_s
        self.state = ReadState.STARTING
        self.read_errors = 0
        self._ring = asyncio.Event()
        # Replies to batch requests arrive on <prefix>.<token>; stale tokens are ignored.
        self._prefix = nc.new_inbox()
        self._tokens = itertools.count()
        self._replies: dict[str, asyncio.Queue[Msg]] = {}

    @property
    def ready(self) -> bool:
        return self.state in (ReadState.READING, ReadState.IDLE)

    async def _on_ring(self, _: Msg) -> None:
        self._ring.set()

    def ring(self) -> None:
        """Something new is in the stream (e.g. this gateway's append was acknowledged): an idle
        reader reads now. A chasing reader keeps its schedule: under load that batches reads,
        which measured cheaper than reading on every ring (docs/PERFORMANCE.md)."""
        self._ring.set()

    async def _on_reply(self, msg: Msg) -> None:
        queue = self._replies.get(msg.subject)
        if queue is not None:
            queue.put_nowait(msg)

    async def run(self) -> None:
        """Runs until cancelled."""
        subs: list[Subscription] = [
            await self._nc.subscribe(self._subjects, cb=self._on_ring),
            await self._nc.subscribe(self._prefix + ".*", cb=self._on_reply),
        ]
        try:
            await self._loop()
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):  # the connection may be closing already
                    await sub.unsubscribe()

    async def _loop(self) -> None:
        backoff = 0.05
        chase: float | None = None  # next chase delay, while chasing a doorbell
        while True:
            self._ring.clear()  # before reading: a ring during the read is not lost
            try:
                got = await self._read_batch()
            except ReadError as exc:
                self.read_errors += 1
                self.state = ReadState.BACKOFF
                log.info("reader %s: %s; retrying from %d", self.stream, exc, self.next_seq)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            self.state = ReadState.READING
            if got:
                chase = 0.001 if got < self._batch else None
                continue
            if chase is not None and chase <= 0.064:
                await asyncio.sleep(chase)
                chase *= 2
                continue
            self.state = ReadState.IDLE
            try:
                await asyncio.wait_for(self._ring.wait(), self._poll_s)
                chase = 0.001
            except TimeoutError:
                chase = None

    async def _read_batch(self) -> int:
        """Reads up to ``batch`` entries from ``next_seq`` and queues them; returns how many."""
        subject = f"{self._prefix}.{next(self._tokens)}"
        replies: asyncio.Queue[Msg] = asyncio.Queue()
        self._replies[subject] = replies
        request = json.dumps({"seq": self.next_seq, "batch": self._batch}).encode()
        try:
            await self._nc.publish(f"$JS.API.DIRECT.GET.{self.stream}", request, reply=subject)
            count = 0
            end = time.monotonic() + self._timeout
            while True:
                try:
                    msg = await asyncio.wait_for(replies.get(), max(0.0, end - time.monotonic()))
                except TimeoutError as exc:
                    raise ReadError(f"no answer after {count} entries") from exc
                headers = msg.headers or {}
                status = headers.get("Status")
                if status == "204":  # end of batch
                    return count
                if status == "404":  # nothing at or after next_seq yet
                    return count
                if status is not None:
                    raise ReadError(f"status {status} {headers.get('Description', '')}")
                seq = int(headers.get("Nats-Sequence", "0"))
                if seq != self.next_seq:
                    raise ReadError(f"expected sequence {self.next_seq}, got {seq}")
                self._out.put_nowait((self.stream, seq, msg.data))
                self.next_seq = seq + 1
                count += 1
        except (OSError, nats.errors.Error) as exc:
            raise ReadError(repr(exc)) from exc
        finally:
            del self._replies[subject]
