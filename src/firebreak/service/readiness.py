"""Whether a DC's read model is complete enough to answer anyone.

A gateway that starts on an empty or old read model (a burned DC being rebuilt, a restart after a
long outage) would otherwise answer from partial state: histories with holes, rooms missing from
lists, "not a member" for rooms created meanwhile. Until it has caught up it refuses API calls and
WebSockets with 503 ``dc_catching_up``, so clients use another DC.

Caught up means, for every stream: the stream's leader has said where the stream ended when the
gateway started (its *target*), the projector has applied at least that far, and the reader has
read its local replica to the end once. Only a leader's answer sets a target
(``Log.last_seq``): the local replica of a DC that has just rejoined may not hold everything
acknowledged yet, and its node answers for a stream it thinks leaderless from that replica. So a
gateway that starts while a stream has no leader (no quorum) waits for one before it serves.
Once caught up the gateway stays serving: from then on it trails the log by milliseconds, like any
serving DC.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from firebreak.service.projector import Projector

log = logging.getLogger(__name__)


class ReaderProgress(Protocol):
    """What readiness needs of a stream's reader (adapters/replica_reader.py's ReplicaReader)."""

    @property
    def stream(self) -> str: ...

    @property
    def reached_end(self) -> bool:
        """The reader has read this DC's replica of the stream to its end once."""
        ...


class Readiness:
    def __init__(self, projector: Projector, readers: Sequence[ReaderProgress]):
        self._projector = projector
        self._readers = readers
        self._streams = [r.stream for r in readers]
        #: stream -> last sequence at the leader when the gateway started (absent until it answered)
        self.targets: dict[str, int] = {}
        self._caught_up = False

    async def learn_targets(self, last_seq: Callable[[str], Awaitable[int]]) -> None:
        """Asks each stream's leader where the stream ends; ``last_seq`` waits for a leader."""

        async def learn(stream: str) -> None:
            self.targets[stream] = await last_seq(stream)
            log.info("%s ended at %d when this gateway started", stream, self.targets[stream])

        await asyncio.gather(*(learn(stream) for stream in self._streams))

    async def serve_when_caught_up(self, check_every_s: float = 0.05) -> None:
        """Switches the projector from catching up to serving once caught up (then returns). Asked
        after each batch, and every ``check_every_s`` while none comes (a target or a reader's
        end can arrive without one)."""
        while not self.caught_up():
            await self._projector.next_batch(check_every_s)
        self._projector.start_serving()

    def caught_up(self) -> bool:
        if not self._caught_up:
            head = self._projector.head
            self._caught_up = (
                len(self.targets) == len(self._streams)
                and all(r.reached_end for r in self._readers)
                and all(head.get(stream, 0) >= seq for stream, seq in self.targets.items())
            )
        return self._caught_up

    def progress(self) -> str:
        missing = [s for s in self._streams if s not in self.targets]
        if missing:
            return f"waiting for the leaders of {', '.join(missing)} to say where the log ends"
        applied = sum(self._projector.head.get(s, 0) for s in self.targets)
        return f"applied {applied:,} of {sum(self.targets.values()):,} log entries"
