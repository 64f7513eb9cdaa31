"""Heartbeat frames for every live socket of a gateway, from one timer.

Why one timer: a gateway holds thousands of mostly idle sockets. A timer per socket (one
``asyncio.wait`` timeout per session, as before) wakes each session's task every interval and
makes the event loop keep one timer handle per socket; that was the largest part of what an idle
socket costs (docs/PERFORMANCE.md, "Many connections"). Here sockets are dealt into ``slots``
groups (each joins the smallest); every ``interval_s / slots`` one group gets its frames, written
in a plain loop. Each socket thus hears a heartbeat every ``interval_s`` (its first one within an
interval of joining), and the event loop keeps one timer for all of them.

The timer runs only while some socket is registered, and on the loop that registered the first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Writes one heartbeat frame to one socket, without waiting (it may drop the frame if the socket
#: cannot take it now: a client that reads slowly has other frames to read).
Beat = Callable[[], None]


class Heartbeats:
    def __init__(self, interval_s: float, slots: int = 5) -> None:
        if interval_s <= 0 or slots < 1:
            raise ValueError("a heartbeat needs a positive interval and at least one slot")
        self._tick_s = interval_s / slots
        self._slots: list[dict[int, Beat]] = [{} for _ in range(slots)]
        #: The slot the next tick beats.
        self._next = 0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def count(self) -> int:
        """The sockets registered now."""
        return sum(len(slot) for slot in self._slots)

    @property
    def running(self) -> bool:
        """Whether the timer is set (it stops a tick after the last socket left)."""
        return self._timer is not None

    def add(self, beat: Beat) -> Callable[[], None]:
        """Registers a socket's ``beat``; returns what to call when the socket ends."""
        # The emptiest slot, so that a burst of sockets is spread over the interval; any slot's
        # turn comes within an interval.
        slot = min(self._slots, key=len)
        key = id(beat)
        slot[key] = beat
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._tick_s, self._tick)

        def remove() -> None:
            # By identity: once removed, the key may be another socket's.
            if slot.get(key) is beat:
                del slot[key]

        return remove

    def _tick(self) -> None:
        slot = self._slots[self._next]
        self._next = (self._next + 1) % len(self._slots)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._tick_s, self._tick) if self.count else None
        for beat in list(slot.values()):
            try:
                beat()
            except Exception:  # one socket's failure must not silence the others
                log.exception("a heartbeat write failed")
