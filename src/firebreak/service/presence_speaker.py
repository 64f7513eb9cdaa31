"""What one gateway process tells the others of its live users (service/presence.py drives it;
the notes are domain/presence.py's, the rules that read them domain/presence_board.py).

- A user's first socket here opening (``on``) or last one closing (``off``) is told within
  ``NOTE_DELAY_S``, together with the others in that time, in notes numbered 1, 2, ... of this
  process's run.
- Every beat, a ``pulse`` with the number of the last one, unless a list for all went out at
  that tick.
- A ``list`` of all its live users, as of that number: to a process that asked for it (to all,
  once, when several asked in one tick) and to all every ``LIST_EVERY_BEATS`` beats.

Every note leaves through one outbox, in the order it was made (service/note_outbox.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from firebreak.domain.presence import LIST, OFF, ON, PULSE, PresenceAsk, PresenceNote
from firebreak.service.note_outbox import Outbox

#: Most users in one note (a note stays far below NATS's 1 MiB payload limit).
NOTE_USERS_MAX = 5000
#: A user's first socket opening or last one closing is told after this delay, together with
#: the others in it: sockets open in bursts (a DC's clients moving after a fire, a benchmark),
#: and one note and one watchers query for many users cost far less than one each.
NOTE_DELAY_S = 0.02
#: A process lists all its users unasked every this many beats: a safety net only, since a
#: receiver that misses a note asks for a list (30 s with the default 2 s beat).
LIST_EVERY_BEATS = 15
#: This many processes asking in one tick get one list sent to all instead of one each.
ASKERS_FOR_ALL = 3

Note = PresenceNote | PresenceAsk


class Speaker:
    def __init__(
        self, outbox: Outbox[Note], label: str, run: int, live_users: Callable[[], Collection[str]]
    ) -> None:
        self._outbox = outbox
        self._label = label
        self._run = run
        self._live_users = live_users
        #: The number of the last on/off note made.
        self._seq = 0
        #: Users whose first socket opened (ON) or last one closed (OFF) here, not yet told.
        self._announcing: dict[str, str] = {}
        self._timer: asyncio.TimerHandle | None = None
        #: Processes that asked for this one's list since the last tick.
        self._askers: set[str] = set()

    def announce(self, user_id: str, kind: str) -> None:
        """Tells every process, within ``NOTE_DELAY_S``, that ``user_id`` is now online (ON) or
        offline (OFF) here. Only the latest of a user's changes in that time goes out: what the
        others hear before it changes nothing they would show after it."""
        self._announcing[user_id] = kind
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(NOTE_DELAY_S, self.flush)

    def flush(self) -> None:
        """Puts the changes waiting to be told in the outbox, numbered."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        announcing, self._announcing = self._announcing, {}
        for kind in (OFF, ON):
            users = tuple(user for user, said in announcing.items() if said == kind)
            for first in range(0, len(users), NOTE_USERS_MAX):
                self._seq += 1
                chunk = users[first : first + NOTE_USERS_MAX]
                self._outbox.put(PresenceNote(self._label, kind, chunk, self._run, self._seq))

    def asked(self, ask: PresenceAsk) -> None:
        if self._label in ask.sources:
            self._askers.add(ask.asker)

    def ask(self, sources: list[str]) -> None:
        """Asks ``sources`` for their lists (this process missed some of their notes)."""
        self._outbox.put(PresenceAsk(self._label, tuple(sources)))

    def tick(self, beat: int | None) -> None:
        """A tick: answers asks; ``beat``, on a beat's tick, its number (from 0)."""
        if (beat is not None and beat % LIST_EVERY_BEATS == 0) or len(self._askers) >= ASKERS_FOR_ALL:
            self._list("")
        else:
            for asker in sorted(self._askers):
                self._list(asker)
            if beat is not None:
                self._outbox.put(PresenceNote(self._label, PULSE, (), self._run, self._seq))
        self._askers.clear()

    def _list(self, to: str) -> None:
        """Puts a list of every live user here in the outbox, as of the last on/off note, for
        process ``to`` ("": every process)."""
        self.flush()
        users = tuple(self._live_users())
        parts = max(1, -(-len(users) // NOTE_USERS_MAX))
        for part in range(parts):
            chunk = users[part * NOTE_USERS_MAX : (part + 1) * NOTE_USERS_MAX]
            self._outbox.put(PresenceNote(self._label, LIST, chunk, self._run, self._seq, part, parts, to))

    async def close(self) -> None:
        """Sends what waits to be told and stops: a process that stops has just ended its
        sockets, and their ``off`` must not wait for a timer that will not run. Pulses, lists
        and asks still waiting are dropped (the others hear no more of this run anyway)."""
        self.flush()
        self._outbox.close(keep=lambda note: isinstance(note, PresenceNote) and note.kind in (ON, OFF))
        await self._outbox.flush()
