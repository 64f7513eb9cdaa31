"""Who is online, as one gateway process has heard it from every process (its own included). Pure:
no I/O, no clock (every call is given ``now`` in ms of a monotonic clock; service/presence.py
turns the board's times into wall-clock ``last_seen``).

Each process (a "source", named by its label: ``dc1``, ``dc1#2``) tells its live users in
numbered ``on``/``off`` notes, says it is still there in a ``pulse`` every beat, and lists all
its users (``list``) when asked and every few tens of seconds (domain/presence.py). The board
keeps, per source, the users it lists and when it was last heard from. A user is online while
some source that lists them was heard from within ``expiry_ms``; a source that stops (its DC
burned, its process died) goes silent, and all its users go offline with it.

Why per source and not one entry per (source, user) renewed by every beat: renewing every user
at every beat costs each process work that grows with the sockets of the whole cluster, and at
100,000 sockets that was the largest part of an idle gateway's CPU (docs/PERFORMANCE.md, "Many
connections"). A pulse renews a source at once.

Lost notes (core NATS drops what a subscriber misses): a numbered note that skips a number, a
pulse whose number is not the last one heard, or a source first heard of (this process just
started) leaves the source *out of step*. The board still applies what it hears, and
:meth:`Board.due_asks` names the sources to ask for a list at once, then again after 2, 4, 8 ...
ask intervals (up to ``ask_every_max_ms``) until one arrives. A list stands for its source as of
its number. A list older than notes already applied (it came by another subscription, which
NATS's client reads in its own task) is brought up to date with those notes, kept for the last
``RECENT_NOTES`` numbers; older than that, it is stale and dropped.

A source's ``run`` grows when its process restarts (it starts with the start time): the old
process's sockets died with it, so its users are dropped at once. A note of a lower run is a late
one of a process already replaced, and ignored, unless the source has been silent for the expiry
(then the lower run is a restart on a host whose clock is behind). A source silent past the
expiry is kept *dormant* until ``DORMANT_EXPIRIES`` expiries after it was last heard: if it
speaks again in the same run (it, or this process, stalled; a cut healed), its users come back
without a list.
"""

from __future__ import annotations

from collections import deque

from firebreak.domain.presence import LIST, OFF, ON, PULSE, Change, PresenceNote

#: A silent source's users are kept this many expiries, for a return in the same run.
DORMANT_EXPIRIES = 12
#: Lists of one source gathered at once (a list for all and one for this process may cross).
LISTS_GATHERED = 2
#: A source's latest on/off notes kept, to bring a list that arrives after them up to date.
RECENT_NOTES = 64
#: A user's ``last_seen`` is kept this long after it; older ones are forgotten (the answer is
#: then null, as for a user not seen since this process started), so that the board's memory
#: follows the users of the last week, not every user ever seen.
LAST_SEEN_KEEP_MS = 7 * 24 * 3600 * 1000
#: How often (board ms) :meth:`Board.expire` forgets last-seen times older than that.
LAST_SEEN_PRUNE_EVERY_MS = 3600 * 1000


class _Source:
    """What the board knows of one source."""

    __slots__ = (
        "asked",
        "asks",
        "dormant",
        "heard",
        "in_step",
        "lists",
        "recent",
        "run",
        "seq",
        "users",
    )

    def __init__(self, run: int, now: int) -> None:
        self.run = run
        #: The number of the latest ``on``/``off`` applied, or of the list applied after it.
        self.seq = 0
        self.heard = now
        self.users: set[str] = set()
        #: Silent past the expiry: its users are offline, but kept for a return in this run.
        self.dormant = False
        #: Every note of this run up to ``seq`` is applied (a list made it so).
        self.in_step = False
        #: When a list was last asked for, and how many asks since the last list.
        self.asked: int | None = None
        self.asks = 0
        #: The parts of the lists being gathered, by their (seq, parts).
        self.lists: dict[tuple[int, int], dict[int, tuple[str, ...]]] = {}
        #: The latest on/off notes applied, oldest first.
        self.recent: deque[PresenceNote] = deque(maxlen=RECENT_NOTES)


class Board:
    """The board of one process: ``hear`` every note, ``expire`` and ``due_asks`` every tick."""

    def __init__(self, expiry_ms: int, ask_every_ms: int, ask_every_max_ms: int) -> None:
        self._expiry = expiry_ms
        self._ask_every = ask_every_ms
        self._ask_every_max = ask_every_max_ms
        self._sources: dict[str, _Source] = {}
        self._by_user: dict[str, set[str]] = {}
        self._last_seen: dict[str, int] = {}
        #: The users last reported online (by :meth:`hear` or :meth:`expire`).
        self._shown: set[str] = set()
        self._pruned: int | None = None

    def online(self, user_id: str, now: int) -> bool:
        oldest = now - self._expiry
        sources = self._sources
        return any(sources[name].heard >= oldest for name in self._by_user.get(user_id, ()))

    def last_seen(self, user_id: str, now: int) -> int | None:
        """When ``user_id`` was last online (board ms), None while online or if never seen here."""
        if self.online(user_id, now):
            return None
        heard = [self._sources[name].heard for name in self._by_user.get(user_id, ())]
        seen = self._last_seen.get(user_id)
        return max([*heard, *([seen] if seen is not None else [])], default=None)

    def hear(self, note: PresenceNote, now: int) -> list[Change]:
        """Applies a note from a source; returns the users whose presence it changed."""
        name = note.source
        source = self._sources.get(name)
        touched: list[str] = []
        fresh = source is None or note.run != source.run
        if source is None:
            source = self._sources[name] = _Source(note.run, now)
        elif note.run != source.run:
            silent = source.dormant or source.heard < now - self._expiry
            if note.run < source.run and not silent:
                return []  # a late note of a process already replaced under this label
            touched.extend(self._new_run(name, source, note.run, now))
        if fresh and note.seq == (1 if note.kind in (ON, OFF) else 0) and note.kind != LIST:
            # The run's very first note: a run starts with no users, so nothing was missed.
            source.in_step = True
        if source.dormant:
            source.dormant = False
            for user in source.users:
                self._by_user.setdefault(user, set()).add(name)
            touched.extend(source.users)
        elif source.heard < now - self._expiry:
            # Silent past the expiry, not yet expired (its notes ran late): maybe shown offline.
            touched.extend(source.users)
        source.heard = max(source.heard, now)
        if note.kind in (ON, OFF):
            touched.extend(self._numbered(name, source, note, now))
        elif note.kind == LIST:
            touched.extend(self._list_part(name, source, note, now))
        elif note.kind == PULSE and note.seq > source.seq:
            # Notes up to its number were missed. (A lower number is a pulse that a list, read
            # by another subscription, overtook.)
            source.in_step = False
        return self._changes(touched, now)

    def expire(self, now: int) -> list[Change]:
        """Takes offline the users of sources not heard from within the expiry (their DC burned
        or was cut off, their process died or stalled); returns those who thereby went offline.
        Sources silent for ``DORMANT_EXPIRIES`` expiries are forgotten, and now and then
        last-seen times older than ``LAST_SEEN_KEEP_MS``."""
        if self._pruned is None or now - self._pruned >= LAST_SEEN_PRUNE_EVERY_MS:
            self._pruned = now
            keep = now - LAST_SEEN_KEEP_MS
            self._last_seen = {user: at for user, at in self._last_seen.items() if at >= keep}
        oldest = now - self._expiry
        touched: list[str] = []
        for name, source in list(self._sources.items()):
            if source.dormant:
                if source.heard < now - DORMANT_EXPIRIES * self._expiry:
                    del self._sources[name]
            elif source.heard < oldest:
                source.dormant = True
                for user in source.users:
                    self._unlist(name, user, source.heard)
                touched.extend(source.users)
        return self._changes(touched, now)

    def due_asks(self, now: int) -> list[str]:
        """The sources to ask for a list now (and counts the asks): out of step, heard from
        within the expiry, and not asked within their current interval (the ask or the list may
        be lost too; each ask unanswered doubles the interval, up to ``ask_every_max_ms``)."""
        oldest = now - self._expiry
        names = []
        for name, source in self._sources.items():
            if source.in_step or source.dormant or source.heard < oldest:
                continue
            wait = min(self._ask_every << min(source.asks, 16), self._ask_every_max)
            if source.asked is None or now - source.asked >= wait or now < source.asked:
                source.asked = now
                source.asks += 1
                names.append(name)
        return names

    def _new_run(self, name: str, source: _Source, run: int, now: int) -> list[str]:
        """``name``'s process restarted: its old sockets died with the old one."""
        gone = list(source.users)
        if not source.dormant:
            for user in gone:
                self._unlist(name, user, now)
        source.run, source.seq, source.users, source.in_step = run, 0, set(), False
        source.asked, source.asks, source.lists = None, 0, {}
        source.recent.clear()
        return gone

    def _numbered(self, name: str, source: _Source, note: PresenceNote, now: int) -> list[str]:
        if note.seq <= source.seq:
            return []  # a list numbered at or after it is applied already
        if note.seq != source.seq + 1:
            source.in_step = False
        source.seq = note.seq
        source.recent.append(note)
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
                    self._unlist(name, user, now)
                    touched.append(user)
        return touched

    def _list_part(self, name: str, source: _Source, note: PresenceNote, now: int) -> list[str]:
        if not 0 <= note.part < note.parts:
            return []
        key = (note.seq, note.parts)
        if key not in source.lists:
            while len(source.lists) >= LISTS_GATHERED:
                del source.lists[next(iter(source.lists))]  # the oldest, a part of it lost
        parts = source.lists.setdefault(key, {})
        parts[note.part] = note.users
        if len(parts) < note.parts:
            return []
        del source.lists[key]
        listed: set[str] = set().union(*parts.values())
        if note.seq < source.seq:
            # Notes after the list were applied first: bring it up to date with them, if they
            # are all at hand and follow it without a gap; else it is stale.
            since = [n for n in source.recent if n.seq > note.seq]
            if [n.seq for n in since] != list(range(note.seq + 1, source.seq + 1)):
                return []
            for n in since:
                if n.kind == ON:
                    listed.update(n.users)
                else:
                    listed.difference_update(n.users)
        gone, came = source.users - listed, listed - source.users
        for user in gone:
            self._unlist(name, user, now)
        for user in came:
            self._by_user.setdefault(user, set()).add(name)
        source.users = listed
        source.seq = max(source.seq, note.seq)
        source.in_step, source.asked, source.asks = True, None, 0
        return [*gone, *came]

    def _unlist(self, name: str, user: str, seen: int) -> None:
        """``user`` no longer counts as listed by source ``name``, last heard of at ``seen``."""
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
