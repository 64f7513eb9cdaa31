"""One live connection: catch up from the client's cursor, then stream live events, gap-free.

Frames sent to the client (JSON text)::

    {"kind":"event","cursor":"c1-...","data":{"p":0,"seq":17,"room_seq":5,"event":{...}}}
    {"kind":"ready","cursor":"c1-..."}       # catch-up done; live from here

Why no event is lost or repeated between catch-up and live (the race this module exists for):

1. the subscriber is registered with the hub *first*, so every event the projector publishes from
   now on lands in its queue;
2. then ``head`` (applied positions) is read. The projector advances ``head`` and publishes in one
   synchronous step after each commit, so every event with a sequence above this ``head`` is
   published after step 1 and is in the queue, and every event at or below it is in SQLite;
3. catch-up sends the events in (cursor, head] from SQLite, then the queue is drained, skipping
   anything at or below what was already delivered for that partition.

Events within one partition are delivered in log order; rooms never span partitions, so per-room
order is the log's order in every DC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from firebreak.adapters.sqlite_queries import Queries
from firebreak.domain.ids import Cursor
from firebreak.service.hub import Hub, Subscriber
from firebreak.service.projector import Projector

CATCH_UP_PAGE = 500

Send = Callable[[bytes], Awaitable[None]]


class SessionEnded(Exception):
    """The server ended the session (``reason``: slow_consumer or draining); the client should
    reconnect with its cursor."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _frame(cursor: Cursor, body: bytes) -> bytes:
    return b'{"kind":"event","cursor":"' + str(cursor).encode() + b'","data":' + body + b"}"


def ready_frame(cursor: Cursor) -> bytes:
    return b'{"kind":"ready","cursor":"' + str(cursor).encode() + b'"}'


class LiveSession:
    def __init__(
        self,
        user_id: str,
        cursor: Cursor | None,
        projector: Projector,
        queries: Queries,
        hub: Hub,
        max_queue: int,
    ) -> None:
        self._user_id = user_id
        self._start = cursor
        self._projector = projector
        self._q = queries
        self._hub = hub
        self._max_queue = max_queue
        self.delivered: Cursor | None = None

    async def run(self, send: Send) -> None:
        """Streams until cancelled or ended by the server (raises SessionEnded)."""
        sub = Subscriber(self._user_id, self._max_queue)
        self._hub.add(sub)
        try:
            head = self._projector.head_cursor()  # step 2: after registering
            delivered = self._start.copy() if self._start is not None else head.copy()
            self.delivered = delivered
            await self._catch_up(send, delivered, head)
            await send(ready_frame(delivered))
            await self._live(send, sub, delivered)
        finally:
            self._hub.remove(sub)

    async def _catch_up(self, send: Send, delivered: Cursor, head: Cursor) -> None:
        for p, upto in enumerate(head.seqs):
            after = delivered.seqs[p]
            while after < upto:
                rows = self._q.catch_up(self._user_id, p, after, upto, CATCH_UP_PAGE)
                for seq, body in rows:
                    delivered.seqs[p] = seq
                    await send(_frame(delivered, body))
                if len(rows) < CATCH_UP_PAGE:
                    break
                after = rows[-1][0]
            # Nothing else in (cursor, head] concerns this user: the cursor may move past it.
            delivered.seqs[p] = max(delivered.seqs[p], upto)

    async def _live(self, send: Send, sub: Subscriber, delivered: Cursor) -> None:
        while True:
            applied = await sub.queue.get()
            if applied is None:
                raise SessionEnded(sub.ended or "ended")
            if applied.seq <= delivered.seqs[applied.partition]:
                continue
            delivered.seqs[applied.partition] = applied.seq
            await send(_frame(delivered, applied.body))
