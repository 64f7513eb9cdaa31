"""Typing and presence: the notes gateways tell each other and the typing allowance (pure: no
I/O, no clock; every call is given ``now`` in ms). Who is online is domain/presence_board.py.

Nothing here is in the log. Gateway processes tell each other over core NATS subjects
(adapters/ephemeral.py), which lose what nobody listens to; every rule is built for that.
"""

from __future__ import annotations

import math

import msgspec

#: Kinds of :class:`PresenceNote`. ``on`` and ``off`` are numbered (``seq``); ``list`` and
#: ``pulse`` say which number the source had reached when they were sent.
ON = "on"
OFF = "off"
LIST = "list"
PULSE = "pulse"


class TypingNote(msgspec.Struct, frozen=True, tag="typing"):
    """``user_id`` types in ``room_id`` (``typing``: False when they stopped or sent), until
    ``until`` (ms since the epoch, the publishing gateway's clock), ``ttl_ms`` after it was sent."""

    room_id: str
    user_id: str
    typing: bool
    until: int
    ttl_ms: int
    v: int = 1


class PresenceNote(msgspec.Struct, frozen=True, tag="presence"):
    """What one gateway process (``source``: its label, ``dc1`` or ``dc1#2``) says of its live users.

    - ``on`` / ``off``: users whose first socket there opened or last one closed, gathered over a
      few milliseconds; numbered ``seq`` = 1, 2, ... within the process's ``run``.
    - ``list``: all its live users as of note ``seq``, in ``parts`` notes (``part`` 0, 1, ...);
      sent to the process ``to`` that asked for it (:class:`PresenceAsk`), or to all (``to``
      empty) when several asked at once and every few tens of seconds.
    - ``pulse``: no users; "still here, and my last ``on``/``off`` was ``seq``". Sent every beat
      in place of a list: a receiver that has every note up to ``seq`` knows the source's users
      without being told them again, and one that does not asks for a list.

    ``run`` is random per process start: numbers restart with it.

    Gateways whose notes differ in ``v`` cannot read each other's (a DC upgraded before the
    others shows their users offline, and they its users, until all run the same version).
    """

    source: str
    kind: str
    users: tuple[str, ...] = ()
    run: int = 0
    seq: int = 0
    part: int = 0
    parts: int = 1
    to: str = ""
    v: int = 2


class PresenceAsk(msgspec.Struct, frozen=True, tag="presence_ask"):
    """``asker`` (a process's label) missed notes of ``sources``, and asks each for a ``list``."""

    asker: str
    sources: tuple[str, ...]
    v: int = 1


class Change(msgspec.Struct, frozen=True):
    """A user's presence as it just changed: ``last_seen`` (ms) when they went offline."""

    user_id: str
    online: bool
    last_seen: int | None = None


class TypingAllowance:
    """A token bucket per user: ``rate_per_s`` typing notes a second, bursts of ``burst``. Users
    whose bucket has refilled are forgotten (memory follows the users typing now)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self._interval = 1000.0 / rate_per_s
        self._depth = self._interval * burst
        #: user -> theoretical arrival time (ms): the bucket is full once ``now`` reaches it.
        self._tat: dict[str, float] = {}
        self._swept = 0.0

    def take(self, user_id: str, now: int) -> int:
        """Takes one token; returns 0, or the seconds to wait (at least 1) if none is left."""
        tat = max(self._tat.get(user_id, 0.0), float(now))
        if tat + self._interval - now > self._depth:
            return max(1, math.ceil((tat + self._interval - self._depth - now) / 1000.0))
        self._tat[user_id] = tat + self._interval
        if now - self._swept > self._depth:
            self._swept = now
            self._tat = {u: t for u, t in self._tat.items() if t > now}
        return 0
