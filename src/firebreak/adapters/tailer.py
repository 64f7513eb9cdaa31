"""Follows one stream of the log from a position, in order, without gaps, across failovers.

A tailer is a small state machine::

    SUBSCRIBING --ok--> STREAMING --gap / stall / error--> BACKOFF --> SUBSCRIBING

It uses a JetStream ordered push consumer (ephemeral, R1, flow-controlled) starting at
``next_seq``. The consumer lives on one node; when that node dies or the stream changes leader the
consumer stops delivering, so the tailer checks two invariants itself rather than trusting the
client library's recovery alone:

* every delivered sequence is exactly ``next_seq`` (a lower one is skipped as a redelivery, a higher
  one is a gap and forces a resubscribe from ``next_seq``);
* if nothing arrived for ``stall_s`` while the stream's last sequence is at or past ``next_seq``,
  the consumer is presumed dead and is recreated.

Streams here never delete messages, so sequences are dense and "exactly next" is the right test.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from firebreak.errors import FirebreakError

log = logging.getLogger(__name__)

#: One entry handed to the projector: (stream name, stream sequence, payload).
Entry = tuple[str, int, bytes]


class TailState(enum.Enum):
    SUBSCRIBING = "subscribing"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    STOPPED = "stopped"


class _Gap(Exception):
    pass


class Tailer:
    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        subjects: str,
        next_seq: int,
        out: asyncio.Queue[Entry],
        *,
        stall_s: float = 3.0,
    ) -> None:
        self._js = js
        self.stream = stream
        self._subjects = subjects
        self.next_seq = next_seq
        self._out = out
        self._stall_s = stall_s
        self.state = TailState.SUBSCRIBING
        self.resubscribes = 0
        self._last_activity = time.monotonic()
        self._gap = asyncio.Event()

    def _on_msg(self, msg: Msg) -> None:
        # Runs in nats-py's per-subscription task, one message at a time, in delivery order.
        seq = msg.metadata.sequence.stream
        self._last_activity = time.monotonic()
        if seq < self.next_seq:
            return
        if seq > self.next_seq:
            self._gap.set()
            return
        self._out.put_nowait((self.stream, seq, msg.data))
        self.next_seq = seq + 1

    async def _cb(self, msg: Msg) -> None:
        self._on_msg(msg)

    async def run(self) -> None:
        """Runs until cancelled."""
        delay = 0.1
        while True:
            self.state = TailState.SUBSCRIBING
            sub = None
            try:
                self._gap.clear()
                sub = await self._js.subscribe(
                    self._subjects,
                    stream=self.stream,
                    cb=self._cb,
                    ordered_consumer=True,
                    idle_heartbeat=1.0,
                    config=ConsumerConfig(
                        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.next_seq
                    ),
                )
                self.state = TailState.STREAMING
                self._last_activity = time.monotonic()
                delay = 0.1
                await self._watch()
            except asyncio.CancelledError:
                self.state = TailState.STOPPED
                raise
            except (_Gap, nats.errors.Error, nats.js.errors.Error, FirebreakError, OSError) as exc:
                log.info("tailer %s: resubscribing from %d after %r", self.stream, self.next_seq, exc)
            finally:
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
            self.resubscribes += 1
            self.state = TailState.BACKOFF
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _watch(self) -> None:
        """Returns (by raising) when the subscription must be replaced."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._gap.wait(), timeout=1.0)
            if self._gap.is_set():
                raise _Gap(f"gap before {self.next_seq}")
            if time.monotonic() - self._last_activity < self._stall_s:
                continue
            # Quiet for a while: fine if there is nothing new, a dead consumer if there is.
            info = await self._js.stream_info(self.stream)
            if info.state.last_seq >= self.next_seq:
                raise _Gap(f"stalled at {self.next_seq} while the stream has {info.state.last_seq}")
            self._last_activity = time.monotonic()
