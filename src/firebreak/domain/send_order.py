"""One connection's pipelined sends to a room are taken in the order sent, or not at all.

A connection may have many sends of one room in flight. When one of them is not taken (refused
for now: the send allowance, the cap on commands in flight, the DC not writing; or its append
failed at the write deadline), the ones behind it may already be on their way, and the
allowance, the DC or the log may take them a moment later. Sent again, the refused one would then
land after them. So every send gets its *arrival* number on the connection, and once a send of a
room is not taken, the connection takes no later-arrived send of that room until the refused
ones have come again:

- a refused send is *held*, with the arrival number of its first sending;
- a send is taken when no held send of its room arrived before it (a held one sent again counts
  by its first arrival), so the refused ones go again in the order first sent, whatever order
  they come back in;
- any other send is refused and held too (409 ``earlier_send_failed``);
- a held send no longer holds the others once it is found stored (sent again over HTTP, or on
  another connection), or once it got a final answer (refused for good: it will never be stored).

A held send that is taken and then fails again (its append, at the write deadline) is held by
its first arrival, still ahead of the sends that arrived after it.

A client may give up on a refused send. So a room's hold lapses once ``lapse_s`` pass in which its
oldest held send did not come again and none was let go; and at most ``max_held`` sends, in at
most ``max_rooms`` rooms, are held per connection (lapsed rooms are cleared to make room). Past
either, the order of what is sent again is the client's.
"""

from __future__ import annotations

from collections.abc import Callable

from firebreak.domain.ids import is_room_id
from firebreak.domain.validation import CLIENT_ID_MAX


class _Held:
    __slots__ = ("arrivals", "since")

    def __init__(self, now: float) -> None:
        #: client id -> the arrival number it was first sent with.
        self.arrivals: dict[str, int] = {}
        #: When the hold began or last moved on (a held send taken or let go, or the oldest one
        #: sent again).
        self.since = now


class SendOrder:
    """A connection's arrivals and held sends (see the module's docstring)."""

    __slots__ = ("_arrivals", "_clock", "_count", "_lapse_s", "_limits", "_rooms")

    def __init__(
        self, max_held: int, lapse_s: float, clock: Callable[[], float], max_rooms: int = 100
    ) -> None:
        self._limits = (max_held, max_rooms)
        self._lapse_s = lapse_s
        self._clock = clock
        self._arrivals = 0
        self._count = 0
        #: Made at the first refusal: most connections never have one.
        self._rooms: dict[str, _Held] | None = None

    def arrive(self) -> int:
        """The arrival number of a command that came now."""
        self._arrivals += 1
        return self._arrivals

    def refused(self, room_id: str, client_id: str, arrival: int) -> None:
        """A send was not taken: the room's sends that arrived after it wait for it."""
        held = self._live(room_id)  # a lapsed one is gone: what comes now starts a hold of its own
        if held is not None and client_id in held.arrivals:
            if held.arrivals[client_id] == min(held.arrivals.values()):
                held.since = self._clock()  # the oldest came again, and is refused for now again
            return
        if len(client_id) > CLIENT_ID_MAX or not is_room_id(room_id):
            return  # ids that are no ids are refused for good when sent again: nothing to wait for
        if self._full(held is None):
            self._clear_lapsed()
            held = None if self._rooms is None else self._rooms.get(room_id)
            if self._full(held is None):
                return
        if self._rooms is None:
            self._rooms = {}
        if held is None:
            held = self._rooms[room_id] = _Held(self._clock())
        held.arrivals[client_id] = arrival
        self._count += 1

    def settled(self, room_id: str, client_id: str) -> None:
        """A held send got a final answer (it will never be stored): it holds nothing back."""
        held = self._live(room_id)
        if held is not None and client_id in held.arrivals:
            self._let_go(room_id, held, client_id)

    def may_take(
        self, room_id: str, client_id: str, arrival: int, stored: Callable[[str], bool]
    ) -> int | None:
        """The arrival number to hold the send by should it fail (its first, if it was held), if
        it may be taken; None if not (then it is held). ``arrival`` is its number now;
        ``stored(client_id)`` says whether a held send is in the log by now."""
        held = self._live(room_id)
        if held is None:
            return arrival
        first = held.arrivals.get(client_id, arrival)
        for cid in [cid for cid, at in held.arrivals.items() if at < first]:
            if not stored(cid):
                self.refused(room_id, client_id, arrival)
                return None
            self._let_go(room_id, held, cid)
        if client_id in held.arrivals:
            self._let_go(room_id, held, client_id)
        return first

    def holding(self, room_id: str) -> int:
        """How many of the room's sends are held."""
        held = self._live(room_id)
        return 0 if held is None else len(held.arrivals)

    def _live(self, room_id: str) -> _Held | None:
        """The room's hold, unless there is none or it lapsed (then it is dropped)."""
        held = None if self._rooms is None else self._rooms.get(room_id)
        if held is not None and self._clock() - held.since > self._lapse_s:
            self._drop(room_id)
            return None
        return held

    def _let_go(self, room_id: str, held: _Held, client_id: str) -> None:
        del held.arrivals[client_id]
        self._count -= 1
        held.since = self._clock()
        if not held.arrivals:
            self._drop(room_id)

    def _drop(self, room_id: str) -> None:
        assert self._rooms is not None
        self._count -= len(self._rooms.pop(room_id).arrivals)
        if not self._rooms:
            self._rooms = None

    def _full(self, new_room: bool) -> bool:
        max_held, max_rooms = self._limits
        rooms = 0 if self._rooms is None else len(self._rooms)
        return self._count >= max_held or (new_room and rooms >= max_rooms)

    def _clear_lapsed(self) -> None:
        now = self._clock()
        for room_id, held in list((self._rooms or {}).items()):
            if now - held.since > self._lapse_s:
                self._drop(room_id)
