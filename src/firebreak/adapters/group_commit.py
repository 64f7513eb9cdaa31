"""Group commit: appends to one subject (one room) that arrive while an earlier one is being
written go to the log together, as one atomic batch, when it is done.

A connection may pipeline many sends to one room, and their order must be the log's; one R3
append with fsync per message would also cost a round trip, a reply and a Raft entry each. So a
subject here has at most one write in flight from this gateway: the first append goes alone (with
its ``Nats-Msg-Id``, as :meth:`Log.append`), and what queues behind it is written next as one batch
of up to ``max_entries`` (:meth:`Log.append_entries`). Different subjects are written at once, as
before: a room with one send at a time sees plain appends, and nothing waits longer than before.

Order: entries reach the subject in the order :meth:`GroupCommit.append` was called, so a caller
that queues its sends one after another (a connection's pipelined sends to one room) keeps their
order in the log. A batch that fails (no quorum until the write deadline, this DC cut off) fails
every append in it, with its error, and every append queued behind it, unwritten, with a 503
(send again): written now, they would land ahead of the failed ones, which their senders send
again. Appends queued from then on are written as usual. Each failed append's ``on_failure``
hears its error at once, before any other task runs, so that its sender (domain/send_order.py)
takes no later send of the room ahead of it.

Batches carry no message ids (JetStream refuses them in atomic batches): a batch sent again after
a lost acknowledgement may be stored twice, and the projection's durable check (room, sender,
client id) ignores the second copy in every DC alike, as for batch sends (and the sends' answers
say ``duplicate``, as the stored copy is not at the sequences the retry was acknowledged at).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from firebreak.adapters.nats_log import MAX_ATOMIC_BATCH, AppendAck
from firebreak.errors import Unavailable

log = logging.getLogger(__name__)

#: A batch is cut at this many bytes of payload, whatever ``max_entries`` allows.
MAX_BATCH_BYTES = 1 << 20


class Appends(Protocol):
    """What group commit writes with (adapters/nats_log.py's :class:`Log`)."""

    async def append(self, subject: str, data: bytes, msg_id: str) -> AppendAck: ...
    async def append_entries(self, entries: list[tuple[str, bytes]]) -> AppendAck: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    subject: str
    data: bytes
    msg_id: str
    done: asyncio.Future[AppendAck]
    on_failure: Callable[[BaseException], None] | None


class GroupCommit:
    """Queues appends per subject and writes each subject's queue as batches, one at a time."""

    def __init__(self, log: Appends, max_entries: int = MAX_ATOMIC_BATCH) -> None:
        self._log = log
        self._max_entries = max(1, min(max_entries, MAX_ATOMIC_BATCH))
        self._queues: dict[str, deque[_Entry]] = {}
        self._writers: set[asyncio.Task[None]] = set()

    def append(
        self,
        subject: str,
        data: bytes,
        msg_id: str,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Future[AppendAck]:
        """Queues ``data`` for ``subject``; the future gives its acknowledgement.

        Queued at once, without waiting: the order of calls is the order in the log. If the append
        fails, ``on_failure`` hears the error when it does, before its future's waiters run."""
        done: asyncio.Future[AppendAck] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(subject)
        if queue is None:
            queue = self._queues[subject] = deque()
            writer = asyncio.create_task(self._write(subject, queue))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        queue.append(_Entry(subject, data, msg_id, done, on_failure))
        return done

    async def _write(self, subject: str, queue: deque[_Entry]) -> None:
        """Writes ``subject``'s queue until it is empty; the subject has no writer while idle."""
        batch: list[_Entry] = []
        try:
            while queue:
                batch = self._take(queue)
                try:
                    acks = await self._append(batch)
                except Exception as exc:  # every caller gets the error its append would have raised
                    behind = Unavailable(
                        "not written: an earlier write to this room failed; send it again",
                        retry_after_s=1,
                    )
                    failed = [(entry, exc) for entry in batch] + [(entry, behind) for entry in queue]
                    queue.clear()
                    # Answered first (their waiters run only after this step), then told.
                    for entry, error in failed:
                        if not entry.done.done():
                            entry.done.set_exception(error)
                    for entry, error in failed:
                        if entry.on_failure is not None:
                            _tell(entry.on_failure, error)
                    continue
                for entry, ack in zip(batch, acks, strict=True):
                    if not entry.done.done():
                        entry.done.set_result(ack)
        finally:
            del self._queues[subject]
            # Cancelled (the gateway stops): nobody waits forever for what was not written.
            for entry in (*batch, *queue):
                entry.done.cancel()

    def _take(self, queue: deque[_Entry]) -> list[_Entry]:
        batch = [queue.popleft()]
        size = len(batch[0].data)
        while queue and len(batch) < self._max_entries and size + len(queue[0].data) <= MAX_BATCH_BYTES:
            entry = queue.popleft()
            size += len(entry.data)
            batch.append(entry)
        return batch

    async def _append(self, batch: list[_Entry]) -> list[AppendAck]:
        if len(batch) == 1:
            entry = batch[0]
            return [await self._log.append(entry.subject, entry.data, entry.msg_id)]
        last = await self._log.append_entries([(entry.subject, entry.data) for entry in batch])
        first = last.seq - len(batch) + 1
        return [AppendAck(stream=last.stream, seq=first + i, duplicate=False) for i in range(len(batch))]


def _tell(on_failure: Callable[[BaseException], None], error: BaseException) -> None:
    try:
        on_failure(error)
    except Exception:  # one sender's bookkeeping must not leave the others untold
        log.exception("an append's on_failure failed")
