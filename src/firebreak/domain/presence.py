"""Typing and presence: the pure rules (no I/O, no clock: every call is given ``now`` in ms).

Nothing here is in the log. Gateways tell each other over core NATS subjects (adapters/ephemeral.py)
and each keeps its own :class:`Board`; a message lost on the way costs at most one expiry.

- :class:`Board`: who is online. Each DC's gateway lists the users with a live socket there in a
  beat every ``beat_ms``, and says within a few tens of milliseconds when users' first socket
  there opens ("on") or their last one closes ("off"). A user is online while some DC has
  listed them within ``expiry_ms``; a DC that burns stops beating, and its users go offline once
  their entries expire.
- :class:`TypingAllowance`: at most a few typing notes per second per user (a token bucket).
"""

from __future__ import annotations

import math

import msgspec

#: Kinds of :class:`PresenceNote`.
BEAT = "beat"
ON = "on"
OFF = "off"


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
    """What one DC's gateway says of its live users: a ``beat`` (all of them, maybe in several
    notes), or users whose first socket opened (``on``) or last one closed (``off``), gathered
    over a few milliseconds (service/presence.py)."""

    dc: str
    kind: str
    users: tuple[str, ...]
    v: int = 1


class Change(msgspec.Struct, frozen=True):
    """A user's presence as it just changed: ``last_seen`` (ms) when they went offline."""

    user_id: str
    online: bool
    last_seen: int | None = None


class Board:
    """Who is online, as one gateway has heard from every DC's gateway (its own included).

    Entries are (dc, user) -> when last heard (ms); ``last_seen`` keeps, for users gone offline,
    when they were last heard of. Only in memory: a restarted gateway learns who is online from
    the next beats, and knows no ``last_seen`` from before it started.
    """

    def __init__(self, expiry_ms: int) -> None:
        self._expiry = expiry_ms
        self._heard: dict[tuple[str, str], int] = {}
        self._by_user: dict[str, set[str]] = {}
        self._last_seen: dict[str, int] = {}
        #: The users last reported online (by :meth:`hear` or :meth:`expire`).
        self._shown: set[str] = set()
        #: No entry was heard before this (ms). Renewals only move entries later, so the oldest
        #: entry found by :meth:`expire`'s last scan bounds them all until then: it scans again
        #: only once that one may be stale, not at every tick (each scan reads every entry of
        #: every process's users: docs/PERFORMANCE.md, "Many connections").
        self._floor = 0

    def online(self, user_id: str, now: int) -> bool:
        oldest = now - self._expiry
        return any(self._heard[(dc, user_id)] >= oldest for dc in self._by_user.get(user_id, ()))

    def last_seen(self, user_id: str, now: int) -> int | None:
        """When ``user_id`` was last online (ms), None while online or if never seen here."""
        if self.online(user_id, now):
            return None
        heard = [self._heard[(dc, user_id)] for dc in self._by_user.get(user_id, ())]
        seen = self._last_seen.get(user_id)
        return max([*heard, *([seen] if seen is not None else [])], default=None)

    def hear(self, note: PresenceNote, now: int) -> list[Change]:
        """Applies a note from a DC; returns the users whose presence it changed."""
        heard = self._heard
        touched: list[str] = []
        self._floor = min(self._floor, now)
        for user in note.users:
            key = (note.dc, user)
            if note.kind == OFF:
                if key in heard:
                    self._last_seen[user] = max(self._last_seen.get(user, 0), now)
                    self._forget(key)
                    touched.append(user)
            elif key in heard:
                # Renewed. A beat lists every user of a DC every few seconds, and nearly all of
                # them are shown online already: one set lookup. One whose entry went stale
                # before an expiry check (its DC's beats late) may have been shown offline.
                heard[key] = now
                if user not in self._shown:
                    touched.append(user)
            else:  # BEAT or ON for a user new at that DC
                heard[key] = now
                self._by_user.setdefault(user, set()).add(note.dc)
                touched.append(user)
        return self._changes(touched, now)

    def expire(self, now: int) -> list[Change]:
        """Forgets entries not heard of within the expiry (their DC stopped beating: burned, cut
        off, or its gateway died); returns the users who thereby went offline."""
        oldest = now - self._expiry
        if self._floor >= oldest:
            return []
        stale = [key for key, at in self._heard.items() if at < oldest]
        for key in stale:
            user = key[1]
            self._last_seen[user] = max(self._last_seen.get(user, 0), self._heard[key])
            self._forget(key)
        self._floor = min(self._heard.values(), default=now)
        return self._changes([user for _, user in stale], now)

    def _forget(self, key: tuple[str, str]) -> None:
        del self._heard[key]
        dcs = self._by_user.get(key[1])
        if dcs is not None:
            dcs.discard(key[0])
            if not dcs:
                del self._by_user[key[1]]

    def _changes(self, users: tuple[str, ...] | list[str], now: int) -> list[Change]:
        """The users among ``users`` whose presence differs from what was last reported."""
        changes = []
        for user in dict.fromkeys(users):
            is_online = self.online(user, now)
            if is_online == (user in self._shown):
                continue
            if is_online:
                self._shown.add(user)
            else:
                self._shown.discard(user)
            changes.append(Change(user, is_online, None if is_online else self.last_seen(user, now)))
        return changes


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
