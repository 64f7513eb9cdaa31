"""One live connection: catch up from the client's cursor, then stream live events, gap-free.

Frames sent to the client (JSON text)::

    {"kind":"event","cursor":"c1-...","data":{"p":0,"seq":17,"room_seq":5,"event":{...}}}
    {"kind":"events","cursor":"c1-...","data":[{...},{...}]}   # several, in order
    {"kind":"ready","cursor":"c1-..."}       # catch-up done; live from here

The cursor is the position just past the frame's last event. Whatever is already waiting for a
session (a catch-up page, a burst such as a batch send) goes out in ``events`` frames of up to
``FRAME_EVENTS``: one socket write instead of one per event, which under a burst was the
gateway's largest cost (docs/PERFORMANCE.md). A lone event goes out as ``event``.

Why no event is lost or repeated between catch-up and live (the race this module exists for):

1. the subscriber is registered with the hub *first*, so every event the projector publishes from
   now on lands in its inbox;
2. then ``head`` (applied positions) is read. The projector advances ``head`` and publishes in one
   synchronous step after each commit, so every event with a sequence above this ``head`` is
   published after step 1 and is in the inbox, and every event at or below it is in SQLite;
3. catch-up sends the events in (cursor, head] from SQLite, then the inbox is drained, skipping
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
#: Most events in one frame (bounds a frame: 100 x a 4,000-character message < 1 MiB).
FRAME_EVENTS = 100

Send = Callable[[bytes], Awaitable[None]]


class SessionEnded(Exception):
    """The server ended the session (``reason``: slow_consumer or draining); the client should
    reconnect with its cursor."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _frame(cursor: Cursor, bodies: list[bytes]) -> bytes:
    head = b'{"kind":"event' + (b"s" if len(bodies) > 1 else b"") + b'","cursor":"' + str(cursor).encode()
    data = bodies[0] if len(bodies) == 1 else b"[" + b",".join(bodies) + b"]"
    return head + b'","data":' + data + b"}"


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
                for first in range(0, len(rows), FRAME_EVENTS):
                    chunk = rows[first : first + FRAME_EVENTS]
                    delivered.seqs[p] = chunk[-1][0]
                    await send(_frame(delivered, [body for _, body in chunk]))
                if len(rows) < CATCH_UP_PAGE:
                    break
                after = rows[-1][0]
            # Nothing else in (cursor, head] concerns this user: the cursor may move past it.
            delivered.seqs[p] = max(delivered.seqs[p], upto)

    async def _live(self, send: Send, sub: Subscriber, delivered: Cursor) -> None:
        while True:
            # Whatever is waiting, up to a frame's worth, after waiting for at least one event.
            items = await sub.take(FRAME_EVENTS)
            if sub.ended is not None:
                raise SessionEnded(sub.ended)
            bodies = []
            for applied in items:
                if applied.seq > delivered.seqs[applied.partition]:
                    delivered.seqs[applied.partition] = applied.seq
                    bodies.append(applied.body)
            if bodies:
                await send(_frame(delivered, bodies))
