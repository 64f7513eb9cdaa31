"""One live connection: catch up from the client's cursor, then stream live events, gap-free.

The frames sent to the client are wire/frames.py's; a frame's cursor is the position just past
its last event. Whatever is already waiting for a session (a catch-up page, a burst such as a
batch send) goes out in ``events`` frames of up to
``FRAME_EVENTS``: one socket write instead of one per event, which under a burst was the
gateway's largest cost (docs/PERFORMANCE.md). A lone event goes out as ``event``.

Why no event is lost or repeated between catch-up and live (the race this module exists for):

1. the subscriber is registered with the hub *first*, so every event the projector publishes from
   now on lands in its inbox;
2. then ``head`` (applied positions) is read. The projector advances ``head`` and publishes in one
   synchronous step after each commit, so every event with a sequence above this ``head`` is
   published after step 1 and is in the inbox, and every event at or below it is in SQLite;
3. catch-up sends the events in (cursor, head] from SQLite, then the inbox is drained, skipping
   anything at or below what was already delivered for that partition;
4. only then, between two sends and with the inbox empty, may the session let the hub write to
   its socket directly (``write_frame_now``, see service/hub.py); whenever the socket cannot take a
   write at once, the session task takes over again, from the first event not written.

Events within one partition are delivered in log order; rooms never span partitions, so per-room
order is the log's order in every DC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from firebreak.adapters.sqlite_queries import Queries
from firebreak.domain.ids import Cursor
from firebreak.domain.model import Applied
from firebreak.service.hub import LOGGED_OUT, Hub, Subscriber, WriteNow
from firebreak.service.projector import Projector
from firebreak.wire.frames import events_frame, ready_frame

CATCH_UP_PAGE = 500
#: Most events in one frame (bounds a frame: 100 x a 4,000-character message < 1 MiB).
FRAME_EVENTS = 100

WriteFrame = Callable[[bytes], Awaitable[None]]
#: Writes one frame at once and returns True, or writes nothing and returns False (socket paused
#: or closing). Provided by the gateway's WebSocket protocol (entrypoints/gateway/websocket.py).
WriteFrameNow = Callable[[bytes], bool]
#: Attaches a caught-up socket to typing and presence (service/presence.py): ``attach(user_id,
#: write_frame, write_frame_now)`` returns what to call when the session ends.
AttachEphemeral = Callable[[str, WriteFrame, WriteFrameNow | None], Callable[[], None]]


class Deliveries(Protocol):
    """Counts what sessions deliver (adapters/metrics.py): one call per frame."""

    def delivered(self, events: int, stamped_ms: int) -> None: ...
    def caught_up(self, events: int) -> None: ...


class _Uncounted:
    def delivered(self, events: int, stamped_ms: int) -> None:
        pass

    def caught_up(self, events: int) -> None:
        pass


class SessionEnded(Exception):
    """The server ended the session (``reason``: one of service/hub.py's: slow_consumer or
    draining, and the client should reconnect with its cursor; logged_out, and it must not)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _frame(cursor: Cursor, bodies: list[bytes]) -> bytes:
    return events_frame(str(cursor), bodies)


class LiveSession:
    def __init__(
        self,
        user_id: str,
        cursor: Cursor | None,
        projector: Projector,
        queries: Queries,
        hub: Hub,
        max_queue: int,
        session_id: str = "",
        deliveries: Deliveries | None = None,
        ephemeral: AttachEphemeral | None = None,
    ) -> None:
        self._user_id = user_id
        self._ephemeral = ephemeral
        self._count = deliveries or _Uncounted()
        self._session_id = session_id
        self._start = cursor
        self._projector = projector
        self._q = queries
        self._hub = hub
        self._max_queue = max_queue
        self.delivered: Cursor | None = None
        self._sub: Subscriber | None = None
        #: Why the session was ended before it registered, if it was.
        self._ended_early: str | None = None

    async def run(
        self,
        write_frame: WriteFrame,
        write_frame_now: WriteFrameNow | None = None,
        heartbeat_s: float | None = None,
    ) -> None:
        """Streams until cancelled or ended by the server (raises SessionEnded). With
        ``write_frame_now``, live events are written by the hub whenever the socket takes them at
        once; ``heartbeat_s`` is the socket's heartbeat interval, which its ``ready`` frame states."""
        sub = self._sub = Subscriber(self._user_id, self._max_queue, self._session_id)
        self._hub.add(sub)
        try:
            if self._ended_early is not None:
                raise SessionEnded(self._ended_early)
            # A logout applied between the token check and the line above ended nothing here:
            # from now on the hub would end this session, so one look at the read model suffices.
            if self._session_id and self._q.is_revoked(self._session_id):
                raise SessionEnded(LOGGED_OUT)
            delivered = await self._open(_first_now(write_frame, write_frame_now), heartbeat_s)
            detach = self._ephemeral(self._user_id, write_frame, write_frame_now) if self._ephemeral else None
            try:
                await self._live(write_frame, sub, delivered, write_frame_now)
            finally:
                if detach is not None:
                    detach()
        finally:
            self._hub.remove(sub)
            self._sub = None

    def end(self, reason: str) -> None:
        """Ends the session from outside, as the hub does (``run`` raises SessionEnded(reason)
        once it gets to it): its socket's command connection gave up on the client."""
        if self._sub is not None:
            self._sub.end(reason)
        else:
            self._ended_early = reason

    async def _open(self, write: WriteFrame, heartbeat_s: float | None) -> Cursor:
        """Catch-up, then ``ready``; returns the cursor delivered so far."""
        # Its own frame, so that ``write`` (a closure) and ``head`` are not kept for the session's
        # lifetime.
        head = self._projector.head_cursor()  # step 2: after registering
        delivered = self._start.copy() if self._start is not None else head.copy()
        self.delivered = delivered
        await self._catch_up(write, delivered, head)
        await write(ready_frame(str(delivered), heartbeat_s))
        return delivered

    async def _catch_up(self, write_frame: WriteFrame, delivered: Cursor, head: Cursor) -> None:
        for p, upto in enumerate(head.seqs):
            after = delivered.seqs[p]
            while after < upto:
                rows = self._q.catch_up(self._user_id, p, after, upto, CATCH_UP_PAGE)
                for first in range(0, len(rows), FRAME_EVENTS):
                    chunk = rows[first : first + FRAME_EVENTS]
                    delivered.seqs[p] = chunk[-1][0]
                    await write_frame(_frame(delivered, [body for _, body in chunk]))
                    self._count.caught_up(len(chunk))
                if len(rows) < CATCH_UP_PAGE:
                    break
                after = rows[-1][0]
            # Nothing else in (cursor, head] concerns this user: the cursor may move past it.
            delivered.seqs[p] = max(delivered.seqs[p], upto)

    async def _live(
        self,
        write_frame: WriteFrame,
        sub: Subscriber,
        delivered: Cursor,
        write_frame_now: WriteFrameNow | None,
    ) -> None:
        write = _writer(write_frame_now, delivered, self._count) if write_frame_now is not None else None
        while True:
            if write is not None:
                # Here no send is in progress; if the inbox is empty too, the hub writes from now
                # on and take() returns only when the session ends or falls back.
                sub.go_direct(write)
            # Whatever is waiting, up to a frame's worth, after waiting for at least one event.
            items = await sub.take(FRAME_EVENTS)
            if sub.ended is not None:
                raise SessionEnded(sub.ended)
            bodies = _advance(delivered, items)
            if bodies:
                await write_frame(_frame(delivered, bodies))
                self._count.delivered(len(bodies), items[-1].at)


def _first_now(write_frame: WriteFrame, write_frame_now: WriteFrameNow | None) -> WriteFrame:
    """Writes a frame directly when the socket takes it at once, else waits for the socket: the
    ASGI path's task wake-up and message dict are most of a small frame's cost. Frames stay in
    order, since each write is finished before the next one starts."""
    if write_frame_now is None:
        return write_frame

    async def write(frame: bytes) -> None:
        if not write_frame_now(frame):
            await write_frame(frame)

    return write


def _advance(delivered: Cursor, items: list[Applied]) -> list[bytes]:
    """The bodies of the events in ``items`` past ``delivered``, which moves past them."""
    bodies = []
    seqs = delivered.seqs
    for applied in items:
        if applied.seq > seqs[applied.partition]:
            seqs[applied.partition] = applied.seq
            bodies.append(applied.body)
    return bodies


def _writer(write_frame_now: WriteFrameNow, delivered: Cursor, count: Deliveries) -> WriteNow:
    """The hub's writer for one session: frames of up to FRAME_EVENTS; ``delivered`` moves only
    past frames the socket took."""
    seqs = delivered.seqs

    def write(items: list[Applied]) -> int:
        if len(items) == 1:  # by far the most common: one event, one frame (no copies)
            applied = items[0]
            p, before = applied.partition, seqs[applied.partition]
            if applied.seq <= before:
                return 1
            seqs[p] = applied.seq
            if write_frame_now(_frame(delivered, [applied.body])):
                count.delivered(1, applied.at)
                return 1
            seqs[p] = before
            return 0
        for first in range(0, len(items), FRAME_EVENTS):
            saved = seqs.copy()
            chunk = items[first : first + FRAME_EVENTS]
            bodies = _advance(delivered, chunk)
            if bodies:
                if not write_frame_now(_frame(delivered, bodies)):
                    seqs[:] = saved
                    return first
                count.delivered(len(bodies), chunk[-1].at)
        return len(items)

    return write
