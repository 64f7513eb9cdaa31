"""Who is online, as one gateway process has heard it from every process (its own included). Pure:
no I/O, no clock (every call is given ``now`` in ms).

Each process (a "source", named by its label: ``dc1``, ``dc1#2``) tells its live users in
numbered ``on``/``off`` notes, says it is still there in a ``pulse`` every beat, and lists all
its users (``list``) when asked and every few tens of seconds (domain/presence.py). The board
keeps, per source, the users it lists and when it was last heard from. A user is online while
some source that lists them was heard from within ``expiry_ms``; a source that stops (its DC
burned, its process died) goes stale after that, and so do all its users.

Why per source and not one entry per (source, user) renewed by every beat: renewing every user
at every beat costs each process work that grows with the sockets of the whole cluster, and at
100,000 sockets that was the largest part of an idle gateway's CPU (docs/PERFORMANCE.md, "Many
connections"). A pulse renews a source at once.

Lost notes (core NATS drops what a subscriber misses): a numbered note that skips a number, a
pulse whose number is not the last one heard, a source first heard of, or a source's new ``run``
(the process restarted) leaves the source *out of step*. The board still applies what it hears,
and :meth:`Board.wanted` names the sources to ask for a list, again every ``ask_every_ms`` until
one arrives. A list stands for its source as of its number: one older than a note already
applied is stale and dropped.
"""

from __future__ import annotations

from firebreak.domain.presence import LIST, OFF, ON, PULSE, Change, PresenceNote


class _Source:
    """What the board knows of one source."""

    __slots__ = ("asked", "heard", "in_step", "parts", "parts_of", "run", "seq", "users")

    def __init__(self, run: int, now: int) -> None:
        self.run = run
        #: The number of the latest ``on``/``off`` applied, or of the list applied after it.
        self.seq = 0
        self.heard = now
        self.users: set[str] = set()
        #: Every note of this run up to ``seq`` is applied (a list made it so).
        self.in_step = False
        #: When a list was last asked for (ms).
        self.asked: int | None = None
        #: The parts of the list being gathered, and its (seq, parts).
        self.parts: dict[int, tuple[str, ...]] = {}
        self.parts_of = (-1, 0)


class Board:
    def __init__(self, expiry_ms: int, ask_every_ms: int) -> None:
        self._expiry = expiry_ms
        self._ask_every = ask_every_ms
        self._sources: dict[str, _Source] = {}
        self._by_user: dict[str, set[str]] = {}
        self._last_seen: dict[str, int] = {}
        #: The users last reported online (by :meth:`hear` or :meth:`expire`).
        self._shown: set[str] = set()

    def online(self, user_id: str, now: int) -> bool:
        oldest = now - self._expiry
        sources = self._sources
        return any(sources[name].heard >= oldest for name in self._by_user.get(user_id, ()))

    def last_seen(self, user_id: str, now: int) -> int | None:
        """When ``user_id`` was last online (ms), None while online or if never seen here."""
        if self.online(user_id, now):
            return None
        heard = [self._sources[name].heard for name in self._by_user.get(user_id, ())]
        seen = self._last_seen.get(user_id)
        return max([*heard, *([seen] if seen is not None else [])], default=None)

    def hear(self, note: PresenceNote, now: int) -> list[Change]:
        """Applies a note from a source; returns the users whose presence it changed."""
        source = self._sources.get(note.source)
        if source is None:
            source = self._sources[note.source] = _Source(note.run, now)
        elif source.run != note.run:
            # The process restarted: its old users stand until its first list replaces them.
            source.run, source.seq, source.in_step, source.asked = note.run, 0, False, None
            source.parts, source.parts_of = {}, (-1, 0)
        touched: list[str] = []
        if source.heard < now - self._expiry:
            # Stale but not yet expired (its notes ran late): its users may be shown offline.
            touched.extend(source.users)
        source.heard = max(source.heard, now)
        if note.kind in (ON, OFF):
            touched.extend(self._numbered(note.source, source, note, now))
        elif note.kind == LIST:
            touched.extend(self._list_part(note.source, source, note, now))
        elif note.kind == PULSE and note.seq != source.seq:
            source.in_step = False
        return self._changes(touched, now)

    def expire(self, now: int) -> list[Change]:
        """Forgets the sources not heard from within the expiry (their DC burned or was cut off,
        or their process died); returns the users who thereby went offline."""
        oldest = now - self._expiry
        touched: list[str] = []
        for name in [name for name, source in self._sources.items() if source.heard < oldest]:
            source = self._sources.pop(name)
            for user in source.users:
                self._drop(name, user, source.heard)
            touched.extend(source.users)
        return self._changes(touched, now)

    def wanted(self, now: int) -> list[str]:
        """The sources to ask for a list now: out of step, live, and not asked within
        ``ask_every_ms`` (the ask or the list may be lost too)."""
        oldest = now - self._expiry
        names = []
        for name, source in self._sources.items():
            if source.in_step or source.heard < oldest:
                continue
            if source.asked is None or now - source.asked >= self._ask_every:
                source.asked = now
                names.append(name)
        return names

    def _numbered(self, name: str, source: _Source, note: PresenceNote, now: int) -> list[str]:
        if note.seq <= source.seq:
            return []  # a list numbered at or after it is applied already
        if note.seq != source.seq + 1:
            source.in_step = False
        source.seq = note.seq
        touched = []
        if note.kind == ON:
            for user in note.users:
                if user not in source.users:
                    source.users.add(user)
                    self._by_user.setdefault(user, set()).add(name)
                    touched.append(user)
                elif user not in self._shown:
                    touched.append(user)
        else:
            for user in note.users:
                if user in source.users:
                    source.users.discard(user)
                    self._drop(name, user, now)
                    touched.append(user)
        return touched

    def _list_part(self, name: str, source: _Source, note: PresenceNote, now: int) -> list[str]:
        if note.seq < source.seq:
            return []  # stale: a later on/off is applied already
        if source.parts_of != (note.seq, note.parts):
            source.parts, source.parts_of = {}, (note.seq, note.parts)
        source.parts[note.part] = note.users
        if len(source.parts) < note.parts:
            return []
        listed: set[str] = set().union(*source.parts.values())
        gone, came = source.users - listed, listed - source.users
        for user in gone:
            self._drop(name, user, now)
        for user in came:
            self._by_user.setdefault(user, set()).add(name)
        source.users = listed
        source.seq, source.in_step, source.asked = note.seq, True, None
        source.parts, source.parts_of = {}, (-1, 0)
        return [*gone, *came]

    def _drop(self, name: str, user: str, seen: int) -> None:
        """``user`` is no longer listed by source ``name``, last heard of at ``seen``."""
        self._last_seen[user] = max(self._last_seen.get(user, 0), seen)
        names = self._by_user.get(user)
        if names is not None:
            names.discard(name)
            if not names:
                del self._by_user[user]

    def _changes(self, users: list[str], now: int) -> list[Change]:
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
