"""Heartbeat frames for every live socket of a gateway, one timer per interval in use.

Why one timer: a gateway holds thousands of mostly idle sockets. A timer per socket (one
``asyncio.wait`` timeout per session, as before) wakes each session's task every interval and
makes the event loop keep one timer handle per socket; that was the largest part of what an idle
socket costs (docs/PERFORMANCE.md, "Many connections"). Here sockets are dealt into ``slots``
groups (each joins the smallest); every ``interval_s / slots`` one group gets its frames, written
in a plain loop. Each socket thus hears a heartbeat every ``interval_s`` (its first one within an
interval of joining), and the event loop keeps one timer for all of them.

Why an interval per socket: the heartbeat is for the client (a browser cannot see pings, so it
takes silence as a lost DC), and it is the bytes by which the kernel notices a vanished client
(liveness.py). A client that checks liveness itself, or one that would rather save
its battery than notice a silent DC within seconds, asks for a longer interval (``?heartbeat_s=``
on ``/v1/ws``), and its socket then costs the gateway a write that much less often; at 100,000
sockets those writes were most of an idle gateway's time. Only longer: a shorter one is the
server's cost, not the client's. Each interval in use has its own slots and timer.

A timer runs only while some socket of its interval is registered, on the loop that registered
the first.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from firebreak.errors import BadRequest

log = logging.getLogger(__name__)

#: Writes one heartbeat frame to one socket, without waiting (it may drop the frame if the socket
#: cannot take it now: a client that reads slowly has other frames to read).
Beat = Callable[[], None]


class Heartbeats:
    """Every socket's heartbeats: ``default_s`` apart unless its client asked for a longer
    interval, in whole seconds, of at most ``longest_s``."""

    def __init__(self, default_s: float, slots: int = 5, longest_s: float | None = None) -> None:
        if default_s <= 0 or slots < 1:
            raise ValueError("a heartbeat needs a positive interval and at least one slot")
        self.default_s = default_s
        self.longest_s = default_s if longest_s is None else max(default_s, longest_s)
        self._slot_count = slots
        self._wheels: dict[float, _Wheel] = {}

    @property
    def count(self) -> int:
        """The sockets registered now."""
        return sum(wheel.count for wheel in self._wheels.values())

    @property
    def running(self) -> bool:
        """Whether a timer is set (each stops a tick after the last socket of its interval left)."""
        return any(wheel.running for wheel in self._wheels.values())

    def interval(self, asked: str | None) -> float:
        """The interval for a socket whose client asked for ``asked`` seconds (None: the default).
        A whole number of seconds is taken within bounds (the default at least, ``longest_s`` at
        most: DCs may differ, and a client cannot know each one's bounds); the ``ready`` frame
        states what was taken. Anything else raises BadRequest (``invalid_heartbeat``); an empty
        value never gets here (the query parser drops it), so it means the default."""
        if asked is None:
            return self.default_s
        if not (asked.isascii() and asked.isdigit()):
            raise BadRequest(
                f"heartbeat_s must be a whole number of seconds (it is taken within "
                f"{self.default_s:g}..{self.longest_s:g})",
                code="invalid_heartbeat",
            )
        digits = asked.lstrip("0")
        # More digits than any bound has: the longest (no int() of a string of any length).
        seconds = self.longest_s if len(digits) > 6 else int(digits or "0")
        return max(self.default_s, float(min(seconds, math.floor(self.longest_s))))

    def add(self, beat: Beat, interval_s: float | None = None) -> Callable[[], None]:
        """Registers a socket's ``beat``, every ``interval_s`` (from :meth:`interval`; None: the
        default); returns what to call when the socket ends."""
        every = self.default_s if interval_s is None else interval_s
        if not self.default_s <= every <= self.longest_s:
            raise ValueError(f"a heartbeat interval of {every} s is outside what interval() gives")
        # One wheel per interval ever used: whole seconds within the bounds, a few hundred at most.
        wheel = self._wheels.get(every)
        if wheel is None:
            wheel = self._wheels[every] = _Wheel(every, self._slot_count)
        return wheel.add(beat)


class _Wheel:
    """The sockets of one interval, dealt into slots, and the timer that beats a slot per tick."""

    def __init__(self, interval_s: float, slots: int) -> None:
        self._tick_s = interval_s / slots
        self._slots: list[dict[int, Beat]] = [{} for _ in range(slots)]
        #: The slot the next tick beats.
        self._next = 0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def count(self) -> int:
        return sum(len(slot) for slot in self._slots)

    @property
    def running(self) -> bool:
        return self._timer is not None

    def add(self, beat: Beat) -> Callable[[], None]:
        # The emptiest slot, so that a burst of sockets is spread over the interval; any slot's
        # turn comes within an interval.
        slot = min(self._slots, key=len)
        key = id(beat)
        slot[key] = beat
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._tick_s, self._tick)
        return _Registration(slot, key, beat)

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


class _Registration:
    """Removes one socket's beat from its slot when called (a class, not a closure: one object per
    socket for the garbage collector to walk instead of five)."""

    __slots__ = ("_beat", "_key", "_slot")

    def __init__(self, slot: dict[int, Beat], key: int, beat: Beat) -> None:
        self._slot = slot
        self._key = key
        self._beat = beat

    def __call__(self) -> None:
        # By identity: once removed, the key may be another socket's.
        if self._slot.get(self._key) is self._beat:
            del self._slot[self._key]
