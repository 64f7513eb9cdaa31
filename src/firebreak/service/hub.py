"""Live fan-out inside one gateway: accepted events go to the sessions of their recipients.

The projector calls :meth:`Hub.publish` synchronously right after a commit. Each session owns a
bounded queue; a session that falls too far behind is cut off (it reconnects and resumes from its
cursor), so one slow device can never make the gateway's memory grow without bound.
"""

from __future__ import annotations

import asyncio

from firebreak.domain.model import Applied


class Subscriber:
    """One live connection's inbox."""

    def __init__(self, user_id: str, max_queue: int) -> None:
        self.user_id = user_id
        #: ``None`` is the end sentinel: the reader must stop (``ended`` says why) and the client
        #: resume by cursor, here or at another DC.
        self.queue: asyncio.Queue[Applied | None] = asyncio.Queue()
        self._max = max_queue
        self.ended: str | None = None

    def push(self, applied: Applied) -> None:
        if self.ended is not None:
            return
        if self.queue.qsize() >= self._max:
            self.end("slow_consumer")
            return
        self.queue.put_nowait(applied)

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
            self.queue.put_nowait(None)


class Hub:
    def __init__(self) -> None:
        self._by_user: dict[str, set[Subscriber]] = {}

    def add(self, sub: Subscriber) -> None:
        self._by_user.setdefault(sub.user_id, set()).add(sub)

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

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._by_user.values())

    def publish(self, batch: list[Applied]) -> None:
        by_user = self._by_user
        for applied in batch:
            for user_id in applied.recipients:
                subs = by_user.get(user_id)
                if subs:
                    for sub in subs:
                        sub.push(applied)
