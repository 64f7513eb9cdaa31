"""Typing and presence for one gateway: ephemeral notes over core NATS, delivered to live sockets.

Nothing of this is in the log or the read model (docs/DECISIONS.md). The flow:

- ``POST /v1/rooms/{id}/typing`` (:meth:`Presence.typing`): a member only (else 404, as for any
  room of someone else), within :class:`~firebreak.domain.presence.TypingAllowance` (else 429),
  becomes a :class:`TypingNote` on core NATS. Every gateway (this one included) hands it as a
  ``typing`` frame to the live sockets it holds of the room's *other* members.
- Each live socket, once caught up, is attached here (:meth:`Presence.attach`, from
  service/sessions.py). A user's first socket at this DC publishes an ``on`` note, their last one
  closing an ``off`` note; every ``presence_beat_s`` this gateway lists all its live users in a
  ``beat``. Every gateway folds these into its :class:`Board`, and sends a ``presence`` frame to
  the live sockets of those who share a room with a user whose presence changed. A DC that burns
  stops beating: its users go offline everywhere within ``presence_expiry_s`` (plus one tick).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Container, Sequence
from typing import Protocol

from firebreak.domain.presence import BEAT, OFF, ON, Board, Change, PresenceNote, TypingAllowance, TypingNote
from firebreak.errors import RateLimited
from firebreak.limits import Limits
from firebreak.service.sessions import WriteFrame, WriteFrameNow
from firebreak.wire.frames import presence_frame, typing_frame
from firebreak.wire.presence_views import PresenceList, PresenceView, TypingView

log = logging.getLogger(__name__)

#: Most users listed in one beat note (a note stays far below NATS's 1 MiB payload limit).
BEAT_CHUNK = 5000
#: Ephemeral frames waiting for one socket that does not take them at once; more are dropped (a
#: client that reads so slowly gets the current state from GET .../presence when it catches up).
SINK_PENDING_MAX = 16
#: A user's first socket opening or last one closing is told after this delay, together with
#: the others in it: sockets open in bursts (a DC's clients moving after a fire, a benchmark),
#: and one note and one watchers query for many users cost far less than one each.
NOTE_DELAY_S = 0.02
#: Expiry checks per beat interval: presence goes offline at most this fraction of a beat late.
TICKS_PER_BEAT = 4

Sink = Callable[[bytes], None]


class Link(Protocol):
    """Core NATS (adapters/ephemeral.py)."""

    async def publish(self, note: TypingNote | PresenceNote) -> None: ...
    async def subscribe(
        self, on_typing: Callable[[TypingNote], None], on_presence: Callable[[PresenceNote], None]
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


class SocketSink:
    """Writes ephemeral frames to one live socket: at once if the socket takes them, else in the
    background (frames are written whole, in order among themselves; their order against event
    frames does not matter, they carry no cursor)."""

    def __init__(self, write_frame: WriteFrame, write_now: WriteFrameNow | None) -> None:
        self._write_frame = write_frame
        self._write_now = write_now
        self._pending: set[asyncio.Future[None]] = set()

    def __call__(self, frame: bytes) -> None:
        if not self._pending and self._write_now is not None and self._write_now(frame):
            return
        if len(self._pending) >= SINK_PENDING_MAX:
            return
        task = asyncio.ensure_future(self._write(frame))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, frame: bytes) -> None:
        # Each waits for the socket in turn (uvicorn wakes waiters in order) and writes a whole frame.
        with contextlib.suppress(Exception):
            await self._write_frame(frame)

    def close(self) -> None:
        for task in list(self._pending):
            task.cancel()


class Presence:
    def __init__(
        self,
        link: Link,
        rooms: Rooms,
        people: People,
        limits: Limits,
        dc: str,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self._link = link
        self._rooms = rooms
        self._people = people
        self._dc = dc
        self._clock = clock
        self._ttl_ms = round(limits.typing_ttl_s * 1000)
        self._beat_s = limits.presence_beat_s
        self._allowance = TypingAllowance(limits.typing_rate_per_s, limits.typing_burst)
        self.board = Board(round(limits.presence_expiry_s * 1000))
        #: This gateway's live sockets, by user.
        self._sinks: dict[str, set[SocketSink]] = {}
        self._sending: set[asyncio.Future[None]] = set()
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
        self._announce_timer = None
        for note in self._announcements():
            self._send(note)

    def _announcements(self) -> list[PresenceNote]:
        """The notes for the changes waiting to be told (which are then no longer waiting)."""
        announcing, self._announcing = self._announcing, {}
        notes = []
        for kind in (OFF, ON):
            users = tuple(user for user, said in announcing.items() if said == kind)
            for first in range(0, len(users), BEAT_CHUNK):
                notes.append(PresenceNote(self._dc, kind, users[first : first + BEAT_CHUNK]))
        return notes

    def _send(self, note: TypingNote | PresenceNote) -> None:
        task = asyncio.ensure_future(self._publish(note))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _publish(self, note: TypingNote | PresenceNote) -> None:
        try:
            await self._link.publish(note)
        except Exception:  # ephemeral: the next beat or typing note makes up for it
            log.warning("could not publish a %s note", type(note).__name__, exc_info=True)

    # ---- the API --------------------------------------------------------------------------

    async def typing(self, user_id: str, room_id: str, typing: bool) -> TypingView:
        """``user_id`` types (or stopped) in ``room_id``: tells the room's other members."""
        await self._rooms.member_room(room_id, user_id)
        now = self._clock()
        wait_s = self._allowance.take(user_id, now)
        if wait_s:
            raise RateLimited("too many typing notes: a few per second per user", retry_after_s=wait_s)
        note = TypingNote(room_id, user_id, typing, now + self._ttl_ms if typing else now, self._ttl_ms)
        await self._publish(note)
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

    def on_presence(self, note: PresenceNote) -> None:
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
        """Listens, then beats and expires until cancelled; then tells at once what waits to be
        told (a gateway that stops has just ended its sockets: their ``off`` must not wait for
        a timer that will not run)."""
        await self._link.subscribe(self.on_typing, self.on_presence)
        tick = 0
        try:
            while True:
                if tick % TICKS_PER_BEAT == 0:
                    users = tuple(self._sinks)
                    for first in range(0, len(users), BEAT_CHUNK):
                        await self._publish(PresenceNote(self._dc, BEAT, users[first : first + BEAT_CHUNK]))
                self._deliver(self.board.expire(self._clock()))
                tick += 1
                await asyncio.sleep(self._beat_s / TICKS_PER_BEAT)
        finally:
            if self._announce_timer is not None:
                self._announce_timer.cancel()
                self._announce_timer = None
            for note in self._announcements():
                await self._publish(note)


def _typing_view(note: TypingNote) -> TypingView:
    return TypingView(note.room_id, note.user_id, note.typing, note.until, note.ttl_ms)
