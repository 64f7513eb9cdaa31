"""Typing and presence for one gateway: ephemeral notes over core NATS, delivered to live sockets.

Nothing of this is in the log or the read model (docs/DECISIONS.md). The flow:

- ``POST /v1/rooms/{id}/typing`` (:meth:`Presence.typing`): a member only (else 404, as for any
  room of someone else), within :class:`~firebreak.domain.presence.TypingAllowance` (else 429),
  becomes a :class:`TypingNote` on core NATS. Every gateway (this one included) hands it as a
  ``typing`` frame to the live sockets it holds of the room's *other* members.
- Each live socket, once caught up, is attached here (:meth:`Presence.attach`, from
  service/sessions.py). What this process tells the others of its users (numbered ``on`` and
  ``off`` notes, a ``pulse`` every ``presence_beat_s``, a ``list`` when asked) is
  service/presence_speaker.py. Every process folds what it hears into its
  :class:`~firebreak.domain.presence_board.Board`, asks for the lists of sources whose notes it
  missed, and sends a ``presence`` frame to the live sockets of those who share a room with a
  user whose presence changed. A DC that burns stops pulsing: its users go offline everywhere
  within ``presence_expiry_s`` (plus one tick).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Container, Sequence
from typing import Protocol

from firebreak.domain.presence import OFF, ON, Change, PresenceAsk, PresenceNote, TypingAllowance, TypingNote
from firebreak.domain.presence_board import Board
from firebreak.errors import RateLimited
from firebreak.limits import Limits
from firebreak.retry import retry
from firebreak.service.note_outbox import Outbox
from firebreak.service.presence_speaker import LIST_EVERY_BEATS, Speaker
from firebreak.service.sessions import WriteFrame, WriteFrameNow
from firebreak.service.socket_sink import SocketSink
from firebreak.wire.frames import presence_frame, typing_frame
from firebreak.wire.presence_views import PresenceList, PresenceView, TypingView

log = logging.getLogger(__name__)

#: Expiry checks per beat interval: presence goes offline at most this fraction of a beat late.
#: Asks are answered, and asks for lists sent, at the next tick.
TICKS_PER_BEAT = 4
#: A tick that comes this many ticks late (the event loop stalled) expires nothing: notes that
#: arrived meanwhile wait to be read, and the sources that sent them are not silent. Only one
#: tick in a row is skipped, so a loop late at every tick still expires.
LATE_TICKS = 2


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


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Presence:
    def __init__(
        self,
        link: Link,
        rooms: Rooms,
        people: People,
        limits: Limits,
        label: str,
        clock: Callable[[], int] = monotonic_ms,
        wall: Callable[[], int] = wall_ms,
        run: int | None = None,
    ) -> None:
        """``label``: this process's (``dc1``, ``dc1#2``); ``clock``: the board's time (ms,
        monotonic: a step of the wall clock must not expire or revive anyone); ``wall``: ms since
        the epoch, for ``last_seen`` and typing; ``run``: its notes' run number, by default the
        start time (ms) with random low bits: a restarted process's is higher than its former
        self's (domain/presence_board.py), and two started in the same ms still differ."""
        self._link = link
        self._rooms = rooms
        self._people = people
        self._clock = clock
        self._wall = wall
        self._ttl_ms = round(limits.typing_ttl_s * 1000)
        self._beat_s = limits.presence_beat_s
        self._allowance = TypingAllowance(limits.typing_rate_per_s, limits.typing_burst)
        beat_ms = round(self._beat_s * 1000)
        self.board = Board(round(limits.presence_expiry_s * 1000), beat_ms, LIST_EVERY_BEATS * beat_ms)
        #: This gateway's live sockets, by user.
        self._sinks: dict[str, set[SocketSink]] = {}
        run = (wall() << 12 | secrets.randbits(12)) if run is None else run
        self._speaker = Speaker(Outbox(self._link.publish), label, run, lambda: self._sinks.keys())

    # ---- live sockets (service/sessions.py) ---------------------------------------------------

    def attach(
        self, user_id: str, write_frame: WriteFrame, write_now: WriteFrameNow | None
    ) -> Callable[[], None]:
        """Registers a caught-up live socket; returns what to call when it ends."""
        sink = SocketSink(write_frame, write_now)
        sinks = self._sinks.setdefault(user_id, set())
        sinks.add(sink)
        if len(sinks) == 1:
            self._speaker.announce(user_id, ON)

        def detach() -> None:
            sink.close()
            left = self._sinks.get(user_id)
            if left is None or sink not in left:
                return
            left.discard(sink)
            if not left:
                del self._sinks[user_id]
                self._speaker.announce(user_id, OFF)

        return detach

    # ---- the API --------------------------------------------------------------------------

    async def typing(self, user_id: str, room_id: str, typing: bool) -> TypingView:
        """``user_id`` types (or stopped) in ``room_id``: tells the room's other members."""
        await self._rooms.member_room(room_id, user_id)
        now = self._wall()
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
                PresenceView(m, board.online(m, now), self._seen(board.last_seen(m, now), now))
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
            self._speaker.asked(note)
        else:
            now = self._clock()
            self._deliver(self.board.hear(note, now), now)

    def _seen(self, board_ms: int | None, now: int) -> int | None:
        """A board time (monotonic) as ms since the epoch."""
        return None if board_ms is None else self._wall() - (now - board_ms)

    def _deliver(self, changes: list[Change], now: int) -> None:
        if not changes or not self._sinks:
            return
        watchers = self._people.watchers([change.user_id for change in changes], self._sinks)
        by_watcher: dict[str, list[PresenceView]] = {}
        for change in changes:
            for watcher in watchers.get(change.user_id, ()):
                by_watcher.setdefault(watcher, []).append(
                    PresenceView(change.user_id, change.online, self._seen(change.last_seen, now))
                )
        for watcher, views in by_watcher.items():
            frame = presence_frame(views)
            for sink in self._sinks.get(watcher, ()):
                sink(frame)

    # ---- the ticks ------------------------------------------------------------------------

    async def run(self) -> None:
        """Listens, then ticks (pulses, lists, asks, expiry) until cancelled; then sends at once
        the ``off`` notes of the sockets just ended (service/presence_speaker.py)."""
        loop = asyncio.get_running_loop()
        step_s = self._beat_s / TICKS_PER_BEAT
        tick = 0
        skipped = False
        overslept = 0.0
        try:
            await retry(
                lambda: self._link.subscribe(self.on_typing, self.on_presence),
                retry_on=(Exception,),
                on_retry=lambda exc: log.warning("presence could not subscribe yet: %s", exc),
            )
            while True:
                started = loop.time()
                skipped = overslept > LATE_TICKS * step_s and not skipped
                try:
                    self._tick(tick, late=skipped)
                except Exception:  # one failed tick must not silence this process for good
                    log.exception("a presence tick failed")
                tick += 1
                await asyncio.sleep(step_s)
                overslept = loop.time() - started - step_s
        finally:
            await self._speaker.close()

    def _tick(self, tick: int, late: bool) -> None:
        self._speaker.tick(tick // TICKS_PER_BEAT if tick % TICKS_PER_BEAT == 0 else None)
        if late:
            return
        now = self._clock()
        due = self.board.due_asks(now)
        if due:
            self._speaker.ask(due)
        self._deliver(self.board.expire(now), now)


def _typing_view(note: TypingNote) -> TypingView:
    return TypingView(note.room_id, note.user_id, note.typing, note.until, note.ttl_ms)
