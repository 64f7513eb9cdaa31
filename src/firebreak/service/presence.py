"""Typing and presence for one gateway: ephemeral notes over core NATS, delivered to live sockets.

Nothing of this is in the log or the read model (docs/DECISIONS.md). The flow:

- ``POST /v1/rooms/{id}/typing`` (:meth:`Presence.typing`): a member only (else 404, as for any
  room of someone else), within :class:`~firebreak.domain.presence.TypingAllowance` (else 429),
  becomes a :class:`TypingNote` on core NATS. Every gateway (this one included) hands it as a
  ``typing`` frame to the live sockets it holds of the room's *other* members.
- Each live socket, once caught up, is attached here (:meth:`Presence.attach`, from
  service/sessions.py). A user's first socket in this process publishes an ``on`` note, their
  last one closing an ``off`` note (numbered). Every ``presence_beat_s`` this process sends a
  ``pulse`` (its last number), and a ``list`` of all its live users when another process asks
  for one (:class:`PresenceAsk`, because it missed a note or just started) and every
  ``LIST_EVERY_BEATS`` beats. Every process folds these into its
  :class:`~firebreak.domain.presence_board.Board`, and sends a ``presence`` frame to the live
  sockets of those who share a room with a user whose presence changed. A DC that burns stops
  pulsing: its users go offline everywhere within ``presence_expiry_s`` (plus one tick).
- Notes leave in the order they were made (one outbox), so a receiver that hears every note sees
  the numbers in order, and a gap means a loss.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Container, Sequence
from typing import Protocol

from firebreak.domain.presence import (
    LIST,
    OFF,
    ON,
    PULSE,
    Change,
    PresenceAsk,
    PresenceNote,
    TypingAllowance,
    TypingNote,
)
from firebreak.domain.presence_board import Board
from firebreak.errors import RateLimited
from firebreak.limits import Limits
from firebreak.service.note_outbox import Outbox
from firebreak.service.sessions import WriteFrame, WriteFrameNow
from firebreak.service.socket_sink import SocketSink
from firebreak.wire.frames import presence_frame, typing_frame
from firebreak.wire.presence_views import PresenceList, PresenceView, TypingView

log = logging.getLogger(__name__)

#: Most users in one note (a note stays far below NATS's 1 MiB payload limit).
NOTE_USERS_MAX = 5000
#: A process lists all its users unasked every this many beats: a safety net only, since a
#: receiver that misses a note asks for a list (30 s with the default 2 s beat).
LIST_EVERY_BEATS = 15
#: A user's first socket opening or last one closing is told after this delay, together with
#: the others in it: sockets open in bursts (a DC's clients moving after a fire, a benchmark),
#: and one note and one watchers query for many users cost far less than one each.
NOTE_DELAY_S = 0.02
#: Expiry checks per beat interval: presence goes offline at most this fraction of a beat late.
#: Asks are answered, and asks for lists sent, at the next tick.
TICKS_PER_BEAT = 4

Sink = Callable[[bytes], None]


class Link(Protocol):
    """Core NATS (adapters/ephemeral.py)."""

    async def publish(self, note: TypingNote | PresenceNote | PresenceAsk) -> None: ...
    async def subscribe(
        self,
        on_typing: Callable[[TypingNote], None],
        on_presence: Callable[[PresenceNote | PresenceAsk], None],
    ) -> None: ...


class Rooms(Protocol):
    """Membership checks (service/room_queries.py): raise 404 ``unknown_room`` for a non-member."""

    async def member_room(self, room_id: str, user_id: str) -> object: ...


class People(Protocol):
    """Who may see whom (adapters/sqlite_presence.py)."""

    def members(self, room_id: str) -> list[str]: ...
    def watchers(self, users: Sequence[str], among: Container[str]) -> dict[str, set[str]]: ...


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Presence:
    def __init__(
        self,
        link: Link,
        rooms: Rooms,
        people: People,
        limits: Limits,
        label: str,
        clock: Callable[[], int] = wall_ms,
        run: int | None = None,
    ) -> None:
        """``label``: this process's (``dc1``, ``dc1#2``); ``run``: its notes' run number, by
        default a random one (a restarted process must not be taken for its former self)."""
        self._link = link
        self._rooms = rooms
        self._people = people
        self._label = label
        self._run = secrets.randbits(52) if run is None else run
        self._clock = clock
        self._ttl_ms = round(limits.typing_ttl_s * 1000)
        self._beat_s = limits.presence_beat_s
        self._allowance = TypingAllowance(limits.typing_rate_per_s, limits.typing_burst)
        self.board = Board(round(limits.presence_expiry_s * 1000), round(self._beat_s * 1000))
        #: This gateway's live sockets, by user.
        self._sinks: dict[str, set[SocketSink]] = {}
        self._outbox: Outbox[PresenceNote | PresenceAsk] = Outbox(self._link.publish)
        #: The number of the last on/off note made.
        self._seq = 0
        #: Another process asked for this one's list since the last one went out.
        self._asked = False
        #: Users whose first socket opened (ON) or last one closed (OFF) here, not yet told.
        self._announcing: dict[str, str] = {}
        self._announce_timer: asyncio.TimerHandle | None = None

    # ---- live sockets (service/sessions.py) ---------------------------------------------------

    def attach(
        self, user_id: str, write_frame: WriteFrame, write_now: WriteFrameNow | None
    ) -> Callable[[], None]:
        """Registers a caught-up live socket; returns what to call when it ends."""
        sink = SocketSink(write_frame, write_now)
        sinks = self._sinks.setdefault(user_id, set())
        sinks.add(sink)
        if len(sinks) == 1:
            self._announce(user_id, ON)

        def detach() -> None:
            sink.close()
            left = self._sinks.get(user_id)
            if left is None or sink not in left:
                return
            left.discard(sink)
            if not left:
                del self._sinks[user_id]
                self._announce(user_id, OFF)

        return detach

    def _announce(self, user_id: str, kind: str) -> None:
        """Tells every gateway, within ``NOTE_DELAY_S``, that ``user_id`` is now online (ON) or
        offline (OFF) here. Only the latest of a user's changes in that time goes out: what the
        others hear before it changes nothing they would show after it."""
        self._announcing[user_id] = kind
        if self._announce_timer is None:
            self._announce_timer = asyncio.get_running_loop().call_later(NOTE_DELAY_S, self._flush)

    def _flush(self) -> None:
        """Puts the changes waiting to be told in the outbox, numbered (no longer waiting)."""
        if self._announce_timer is not None:
            self._announce_timer.cancel()
            self._announce_timer = None
        announcing, self._announcing = self._announcing, {}
        for kind in (OFF, ON):
            users = tuple(user for user, said in announcing.items() if said == kind)
            for first in range(0, len(users), NOTE_USERS_MAX):
                self._seq += 1
                chunk = users[first : first + NOTE_USERS_MAX]
                self._outbox.put(PresenceNote(self._label, kind, chunk, self._run, self._seq))

    def _list(self) -> None:
        """Puts a list of every live user here in the outbox, as of the last on/off note."""
        self._flush()
        users = tuple(self._sinks)
        parts = max(1, -(-len(users) // NOTE_USERS_MAX))
        for part in range(parts):
            chunk = users[part * NOTE_USERS_MAX : (part + 1) * NOTE_USERS_MAX]
            self._outbox.put(PresenceNote(self._label, LIST, chunk, self._run, self._seq, part, parts))
        self._asked = False

    # ---- the API --------------------------------------------------------------------------

    async def typing(self, user_id: str, room_id: str, typing: bool) -> TypingView:
        """``user_id`` types (or stopped) in ``room_id``: tells the room's other members."""
        await self._rooms.member_room(room_id, user_id)
        now = self._clock()
        wait_s = self._allowance.take(user_id, now)
        if wait_s:
            raise RateLimited("too many typing notes: a few per second per user", retry_after_s=wait_s)
        note = TypingNote(room_id, user_id, typing, now + self._ttl_ms if typing else now, self._ttl_ms)
        try:
            await self._link.publish(note)
        except Exception:  # ephemeral: the typist's next note makes up for it
            log.warning("could not publish a typing note", exc_info=True)
        return _typing_view(note)

    async def of_room(self, user_id: str, room_id: str) -> PresenceList:
        """The presence of the members of a room of ``user_id``'s (404 for any other room)."""
        await self._rooms.member_room(room_id, user_id)
        now = self._clock()
        board = self.board
        return PresenceList(
            room_id,
            [
                PresenceView(m, board.online(m, now), board.last_seen(m, now))
                for m in self._people.members(room_id)
            ],
        )

    # ---- notes from every gateway ---------------------------------------------------------

    def on_typing(self, note: TypingNote) -> None:
        if not self._sinks:
            return
        frame = typing_frame(_typing_view(note))
        for member in self._people.members(note.room_id):
            if member != note.user_id:
                for sink in self._sinks.get(member, ()):
                    sink(frame)

    def on_presence(self, note: PresenceNote | PresenceAsk) -> None:
        if isinstance(note, PresenceAsk):
            self._asked = self._asked or self._label in note.sources
            return
        self._deliver(self.board.hear(note, self._clock()))

    def _deliver(self, changes: list[Change]) -> None:
        if not changes or not self._sinks:
            return
        watchers = self._people.watchers([change.user_id for change in changes], self._sinks)
        by_watcher: dict[str, list[PresenceView]] = {}
        for change in changes:
            for watcher in watchers.get(change.user_id, ()):
                by_watcher.setdefault(watcher, []).append(
                    PresenceView(change.user_id, change.online, change.last_seen)
                )
        for watcher, views in by_watcher.items():
            frame = presence_frame(views)
            for sink in self._sinks.get(watcher, ()):
                sink(frame)

    # ---- the beat -------------------------------------------------------------------------

    async def run(self) -> None:
        """Listens, then pulses, lists, asks and expires until cancelled; then sends at once what
        waits to be told (a gateway that stops has just ended its sockets: their ``off`` must not
        wait for a timer that will not run)."""
        await self._link.subscribe(self.on_typing, self.on_presence)
        tick = 0
        try:
            while True:
                self._tick(tick)
                tick += 1
                await asyncio.sleep(self._beat_s / TICKS_PER_BEAT)
        finally:
            self._flush()
            await self._outbox.flush()

    def _tick(self, tick: int) -> None:
        if self._asked or tick % (TICKS_PER_BEAT * LIST_EVERY_BEATS) == 0:
            self._list()
        elif tick % TICKS_PER_BEAT == 0:
            self._outbox.put(PresenceNote(self._label, PULSE, (), self._run, self._seq))
        now = self._clock()
        wanted = self.board.wanted(now)
        if wanted:
            self._outbox.put(PresenceAsk(self._label, tuple(wanted)))
        self._deliver(self.board.expire(now))


def _typing_view(note: TypingNote) -> TypingView:
    return TypingView(note.room_id, note.user_id, note.typing, note.until, note.ttl_ms)
