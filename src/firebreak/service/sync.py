"""Read-your-writes and freshness for command handlers.

A gateway answers from its own DC's read model, which trails the log by milliseconds. Two tools
close that gap where it matters:

* after an append, :meth:`Freshness.applied` waits until this DC has applied the appended entry,
  so the response reflects the write (and the projection's verdict on it);
* when a lookup misses (an unknown user or room, "not a member"), :meth:`Freshness.barrier` asks
  the stream's leader for its last sequence and waits until this DC has applied that far, then the
  caller looks again. Only the miss path pays for this round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from firebreak.adapters.nats_log import AppendAck, Log
from firebreak.errors import BadRequest
from firebreak.retry import unless
from firebreak.service.projector import Projector


class Freshness:
    def __init__(
        self,
        log: Log,
        projector: Projector,
        ring: Callable[[str, int], None],
        *,
        cut_off: Callable[[], asyncio.Future[BaseException]] | None = None,
    ) -> None:
        """``cut_off``: as for the Log (service/cutoff.py), so that a write acknowledged just
        before this DC was cut off does not wait for an entry its replica may never receive."""
        self._log = log
        self._projector = projector
        self._ring = ring
        self._cut_off = cut_off

    async def until_applied(self, ack: AppendAck) -> None:
        # The entry is committed: this DC's reader of that stream reads it now if the leader's
        # push does not deliver it promptly.
        if self._projector.head[ack.stream] >= ack.seq:
            return
        self._ring(ack.stream, ack.seq)
        applied = self._projector.wait_for(ack.stream, ack.seq)
        if self._cut_off is None:
            await applied
        else:
            # Cut off: the client's retry at the majority (same id) is answered as a duplicate.
            await unless(applied, self._cut_off())

    async def barrier(self, stream: str) -> None:
        last = await self._log.last_seq(stream)
        await self._projector.wait_for(stream, last)

    def position(self, stream: str) -> int:
        """How far this DC's read model has applied ``stream``."""
        return self._projector.head[stream]

    async def reached(self, stream: str, seq: int, within_s: float = 5.0) -> None:
        """Returns once this DC has applied ``stream`` up to ``seq`` (503 after ``within_s``): a
        client that read a newer state at another DC never reads an older one here. A position
        past the log's end (as its leader says) is no position any DC gave: 400."""
        if seq <= self._projector.head[stream]:
            return
        if seq > await self._log.last_seq(stream):
            raise BadRequest(f"{stream} has no position {seq} yet", code="invalid_position")
        await self._projector.wait_for(stream, seq, within_s)
