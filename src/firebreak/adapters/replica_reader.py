"""Follows one stream for this DC's read model: in order, without gaps, and without depending on
any one other DC.

Two sources, one rule:

* **Push.** Every stream republishes each entry it stores to ``fbc.<subject>`` (JetStream
  ``RePublish``), with its stream sequence in ``Nats-Sequence``. Only the leader republishes, once,
  when it applies the committed entry (the moment it acknowledges the publish), and rejected
  duplicates are never republished. This is the steady-state path: one message per entry and no
  requests. It replaced a doorbell subscription on the stream's own subjects plus a direct-get
  read per wake-up, which cost the nats-servers and gateways much of their CPU under load
  (docs/PERFORMANCE.md).
* **Pull.** Batched direct gets from this DC's own replica (streams allow direct gets and NATS
  hands the request to the local replica first). Used to catch up at start, to fill a gap (push is
  core NATS, at most once: a lost or late message shows up as a sequence jump), every ``poll_s``
  when idle (a lost *last* entry has nothing after it to reveal the gap), and when this gateway's
  own append was acknowledged but push has not delivered it within ``grace_s``.

The rule both paths obey: an entry is handed on only if it carries exactly ``next_seq``; lower
sequences were already handed on (by the other path) and are skipped; a higher one is a gap and
makes the pull path read. Both run on one event loop and check-and-advance without awaiting in
between, so entries reach the projector in sequence order whatever the interleaving.

Why not a JetStream consumer: an ephemeral consumer lives on whichever node JetStream picks, often
in another DC. When that DC burned, this DC's read model stopped for seconds although its own
replica kept receiving every entry (docs/FAILOVER.md). Push needs whichever node is leader
now; when the leader's DC burns, the new leader republishes, and anything in between is pulled
from the local replica.

State machine::

    STARTING --caught up--> IDLE --gap, poll, or own append not pushed--> READING --> IDLE
        any read error --> BACKOFF --> READING
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from firebreak.retry import Backoff

log = logging.getLogger(__name__)

#: After a failed read of the local replica: from 50 ms doubling to 1 s, reset by a good read.
_BACKOFF = Backoff(first_s=0.05, max_s=1.0)

#: One entry handed to the projector: (stream name, stream sequence, payload).
Entry = tuple[str, int, bytes]


class ReadState(enum.Enum):
    STARTING = "starting"
    READING = "reading"
    IDLE = "idle"
    BACKOFF = "backoff"


class ReadError(Exception):
    """A batch could not be read (timeout, gap inside a batch, error status)."""


class ReplicaReader:
    def __init__(
        self,
        nc: NATS,
        stream: str,
        committed_subject: str,
        next_seq: int,
        out: asyncio.Queue[Entry],
        *,
        batch: int = 512,
        catch_up_batch: int = 10_000,
        # Bytes per answer: the server queues a whole answer for this connection, and past its
        # max_pending (64 MiB) it would cut the gateway off as a slow consumer.
        max_bytes: int = 8 << 20,
        # Backpressure before each pull: the projector applies more slowly than replies are
        # parsed while catching up, and without a bound the queue would hold the whole log.
        wait_for_room: Callable[[], Awaitable[None]] | None = None,
        poll_s: float = 0.5,
        grace_s: float = 0.02,
        request_timeout_s: float = 2.0,
    ) -> None:
        self._nc = nc
        self.stream = stream
        self._committed = committed_subject
        self.next_seq = next_seq
        self._out = out
        self._batch = batch
        self._catch_up_batch = catch_up_batch
        self._max_bytes = max_bytes
        self._wait_for_room = wait_for_room
        self._poll_s = poll_s
        self._grace_s = grace_s
        self._timeout = request_timeout_s
        self.state = ReadState.STARTING
        #: True once a pull has read this DC's replica to its end (see service/readiness.py)
        self.reached_end = False
        self.read_errors = 0
        #: entries handed on from push (the rest came by pulls)
        self.pushed = 0
        self._wake = asyncio.Event()
        self._gap = False
        #: highest sequence this gateway appended and was told is committed
        self._want = 0
        # Replies to batch requests arrive on <prefix>.<token>; stale tokens are ignored.
        self._prefix = nc.new_inbox()
        self._tokens = itertools.count()
        self._replies: dict[str, asyncio.Queue[Msg]] = {}

    @property
    def ready(self) -> bool:
        return self.state in (ReadState.READING, ReadState.IDLE)

    def _accept(self, seq: int, data: bytes) -> bool:
        """The one place entries are handed on; returns False for a gap (``seq`` too high)."""
        if seq < self.next_seq:
            return True  # already handed on by the other path
        if seq > self.next_seq:
            return False
        self._out.put_nowait((self.stream, seq, data))
        self.next_seq = seq + 1
        return True

    async def _on_committed(self, msg: Msg) -> None:
        # No await in here: check-and-advance must not interleave with the pull path.
        try:
            seq = int((msg.headers or {})["Nats-Sequence"])
        except (KeyError, ValueError):
            return
        fresh = seq == self.next_seq
        if self._accept(seq, msg.data):
            self.pushed += fresh
        else:
            self._gap = True
            self._wake.set()

    def ring(self, seq: int) -> None:
        """This gateway's append of ``seq`` was acknowledged: if push has not delivered it within
        the grace period, read it from the local replica."""
        if seq >= self.next_seq:
            self._want = max(self._want, seq)
            self._wake.set()

    async def _on_reply(self, msg: Msg) -> None:
        queue = self._replies.get(msg.subject)
        if queue is not None:
            queue.put_nowait(msg)

    async def run(self) -> None:
        """Runs until cancelled."""
        # Subscribe before the first read: anything committed from now on is pushed or, if the
        # read races it, skipped by the sequence rule.
        subs: list[Subscription] = [
            await self._nc.subscribe(self._committed, cb=self._on_committed),
            await self._nc.subscribe(self._prefix + ".*", cb=self._on_reply),
        ]
        try:
            await self._loop()
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):  # the connection may be closing already
                    await sub.unsubscribe()

    async def _loop(self) -> None:
        delays = _BACKOFF.delays()
        pull = True  # catch up from the local replica first
        while True:
            if pull:
                self._gap = False
                if self._wait_for_room is not None:
                    await self._wait_for_room()
                try:
                    more = await self._read_batch()
                except ReadError as exc:
                    self.read_errors += 1
                    self.state = ReadState.BACKOFF
                    log.info("reader %s: %s; retrying from %d", self.stream, exc, self.next_seq)
                    await asyncio.sleep(next(delays))
                    continue
                delays = _BACKOFF.delays()
                self.state = ReadState.READING
                if more or self._gap:
                    continue
                self.reached_end = True
            self.state = ReadState.IDLE
            pull = await self._idle()

    async def _idle(self) -> bool:
        """Waits for a reason to pull: a gap, the poll interval, or an own append push missed."""
        self._wake.clear()
        if self._gap:
            return True
        try:
            await asyncio.wait_for(self._wake.wait(), self._poll_s)
        except TimeoutError:
            return True
        if self._gap:
            return True
        if self._want >= self.next_seq:
            await asyncio.sleep(self._grace_s)  # push usually delivers within a millisecond
            return self._want >= self.next_seq
        return False

    async def _read_batch(self) -> bool:
        """Reads a batch of entries from ``next_seq`` and hands them on; returns whether the
        replica held more after it.

        Until the replica has been read to its end once, batches are large (``catch_up_batch``,
        at most ``max_bytes``; an answer cut short says how many entries are still pending):
        the server streams the whole answer into the socket while the projector holds the event
        loop, so reading overlaps applying. Afterwards they are small: only gaps are read."""
        subject = f"{self._prefix}.{next(self._tokens)}"
        replies: asyncio.Queue[Msg] = asyncio.Queue()
        self._replies[subject] = replies
        size = self._batch if self.reached_end else self._catch_up_batch
        request = json.dumps({"seq": self.next_seq, "batch": size, "max_bytes": self._max_bytes}).encode()
        try:
            await self._nc.publish(f"$JS.API.DIRECT.GET.{self.stream}", request, reply=subject)
            count = 0
            while True:
                if not replies.empty():  # a batch arrives in bursts: skip wait_for's task
                    msg = replies.get_nowait()
                else:
                    # The timeout runs per reply, not per batch: a catch-up batch of 10,000 may
                    # take a while when the projector holds the event loop between replies.
                    try:
                        msg = await asyncio.wait_for(replies.get(), self._timeout)
                    except TimeoutError as exc:
                        raise ReadError(f"no answer after {count} entries") from exc
                headers = msg.headers or {}
                status = headers.get("Status")
                if status == "204":  # end of batch; it says how many entries follow it
                    pending = headers.get("Nats-Num-Pending")
                    return int(pending) > 0 if pending is not None else count >= size
                if status == "404":  # nothing at or after next_seq yet
                    return False
                if status is not None:
                    raise ReadError(f"status {status} {headers.get('Description', '')}")
                seq = int(headers.get("Nats-Sequence", "0"))
                if not self._accept(seq, msg.data):
                    raise ReadError(f"expected sequence {self.next_seq}, got {seq}")
                count += 1
        except (OSError, nats.errors.Error) as exc:
            raise ReadError(repr(exc)) from exc
        finally:
            del self._replies[subject]
