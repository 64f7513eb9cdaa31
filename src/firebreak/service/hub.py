"""Live fan-out inside one gateway: accepted events go to the sessions of their recipients.

The projector calls :meth:`Hub.publish` synchronously right after a commit. Each session owns a
bounded inbox; a session that falls too far behind is cut off (it reconnects and resumes from its
cursor), so one slow device can never make the gateway's memory grow without bound. Sessions
whose socket takes a write at once are written to in that same step (:class:`Subscriber`).

The projector also tells the hub of each session it ends (:meth:`Hub.end_session`: a logout, log
out everywhere, a password change), in every DC, so a socket opened with a token stops receiving
once that token is revoked, wherever it is open.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from firebreak.domain.model import Applied
from firebreak.errors import RateLimited

log = logging.getLogger(__name__)

#: Why the server ends a session (:attr:`Subscriber.ended`).
SLOW_CONSUMER = "slow_consumer"
DRAINING = "draining"
#: This DC is cut off from the log (service/cutoff.py): like draining, the client goes elsewhere.
CUT_OFF = "cut_off"
#: Its token was revoked (a logout): unlike the others, the client must not reconnect with it.
LOGGED_OUT = "logged_out"


#: Writes events to a session's socket at once: returns how many of them it delivered (written,
#: or skipped as delivered before), from the first; fewer than all means the socket could not take
#: the rest now.
WriteNow = Callable[[list[Applied]], int]


class Subscriber:
    """One live connection's inbox: the hub pushes, one session task takes or a writer writes.

    Two ways to deliver, a small state machine::

        QUEUED --session: inbox empty, socket writable at once--> DIRECT
        DIRECT --the writer cannot write now (socket paused or closing)--> QUEUED
        either --end()--> ENDED

    QUEUED: the session task takes events and awaits the socket (catch-up, bursts, slow clients).
    DIRECT: the hub calls :meth:`flush` once per published batch and the events go out in the
    projector's own step, without waking the session task (most of a gateway's frames; see
    entrypoints/gateway/websocket.py). The session task stays parked in :meth:`take` and wakes
    only to end the session or to go back to QUEUED. Frames stay in order because DIRECT starts
    only while nothing waits in the inbox and no send is in progress, and each flush writes
    synchronously.

    Not an ``asyncio.Queue``: with one reader and a writer that never blocks, a deque and at most
    one waiting future do the same job for less (an in-process fan-out of one event to 7
    sessions: 27-31 -> 24 us).
    """

    def __init__(self, user_id: str, max_queue: int, session_id: str = "") -> None:
        self.user_id = user_id
        #: The login session (token) the connection was opened with.
        self.session_id = session_id
        self._items: deque[Applied] = deque()
        self._max = max_queue
        self._waiter: asyncio.Future[None] | None = None
        self._write: WriteNow | None = None
        #: Why the server ended this session (the client resumes by cursor, here or elsewhere).
        self.ended: str | None = None

    def push(self, applied: Applied) -> bool:
        """Adds ``applied`` to the inbox; returns True if the hub must :meth:`flush` this subscriber
        after the batch (DIRECT, and the first event of the batch for it)."""
        if self.ended is not None:
            return False
        if len(self._items) >= self._max:
            self.end(SLOW_CONSUMER)
            return False
        self._items.append(applied)
        if self._write is not None:
            return len(self._items) == 1
        self._wake()
        return False

    def go_direct(self, write: WriteNow) -> bool:
        """Hands delivery to ``write`` if nothing waits in the inbox (else the caller drains it
        first); returns whether it did. Called by the session task between its sends."""
        if self._items or self.ended is not None:
            return False
        self._write = write
        return True

    @property
    def direct(self) -> bool:
        """DIRECT: the hub writes this session's events (see the class docstring)."""
        return self._write is not None

    def flush(self) -> None:
        """DIRECT: writes what the batch brought. What the writer could not write stays in the
        inbox, and the session task takes over (QUEUED) and waits for the socket."""
        write = self._write
        if write is None or self.ended is not None or not self._items:
            return
        items = list(self._items)
        try:
            done = write(items)
        except Exception:
            # Never into the projector, which called us: the session task's awaited send will
            # meet the same socket and end the session the ordinary way.
            log.exception("direct write for %s failed; falling back to the session task", self.user_id)
            done = 0
        if done == len(items):
            self._items.clear()
            return
        for _ in range(done):
            self._items.popleft()
        self._write = None
        self._wake()

    def end(self, reason: str) -> None:
        """Ends the session: the reader gets nothing more (undelivered events stay behind its
        cursor, so the client's resume finds them)."""
        if self.ended is None:
            self.ended = reason
            self._write = None
            self._wake()

    @property
    def waiting(self) -> bool:
        """A reader is parked in :meth:`take`, waiting for an event."""
        return self._waiter is not None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self, most: int) -> list[Applied]:
        """Waits for at least one event, then returns up to ``most`` of those waiting, oldest
        first; returns ``[]`` once the session has ended. For one reader at a time. In DIRECT it
        returns only when the session ends or falls back to QUEUED."""
        if (not self._items or self._write is not None) and self.ended is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items = self._items
        if self.ended is not None:
            return []
        if len(items) <= most:
            taken = list(items)
            items.clear()
            return taken
        return [items.popleft() for _ in range(most)]


class Hub:
    def __init__(self, max_per_user: int | None = None) -> None:
        self._by_user: dict[str, set[Subscriber]] = {}
        #: Live sessions a user may have here; None: no cap.
        self._max_per_user = max_per_user

    def add(self, sub: Subscriber) -> None:
        """Registers a session; raises RateLimited (``too_many_connections``) if its user has
        ``max_per_user`` here already. The newcomer is refused rather than the oldest ended: a
        stolen token must not be able to push the owner's devices off."""
        subs = self._by_user.get(sub.user_id)
        if subs is None:
            subs = self._by_user[sub.user_id] = set()
        elif self._max_per_user is not None and len(subs) >= self._max_per_user:
            raise RateLimited(
                f"at most {self._max_per_user} live connections per user at one DC",
                code="too_many_connections",
            )
        subs.add(sub)

    def remove(self, sub: Subscriber) -> None:
        subs = self._by_user.get(sub.user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_user[sub.user_id]

    def end_all(self, reason: str) -> int:
        """Ends every live session (their clients reconnect elsewhere); returns how many."""
        subs = [sub for subs in self._by_user.values() for sub in subs]
        for sub in subs:
            sub.end(reason)
        return len(subs)

    def end_session(self, user_id: str, session_id: str) -> int:
        """Ends the live sessions opened with a revoked token (logout); returns how many. Called
        by the projector before it publishes the batch that held the revocation, so nothing in
        or after that batch reaches them."""
        subs = [sub for sub in self._by_user.get(user_id, ()) if sub.session_id == session_id]
        for sub in subs:
            sub.end(LOGGED_OUT)
        return len(subs)

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._by_user.values())

    def live_sessions(self, user_id: str) -> tuple[Subscriber, ...]:
        """The live sessions of ``user_id`` now, to look at (whether the hub writes to them,
        whether they ended); the hub's own set of them is not handed out."""
        return tuple(self._by_user.get(user_id, ()))

    def publish(self, batch: list[Applied]) -> None:
        """Pushes each event to its recipients' inboxes, then writes to the DIRECT ones: one
        frame per session for the whole batch, not one per event."""
        by_user = self._by_user
        direct: list[Subscriber] = []
        for applied in batch:
            for user_id in applied.recipients:
                subs = by_user.get(user_id)
                if subs:
                    for sub in subs:
                        if sub.push(applied):
                            direct.append(sub)
        for sub in direct:
            sub.flush()
