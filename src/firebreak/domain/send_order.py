"""One connection's pipelined sends to a room are taken in the order sent, or not at all.

A connection may have many sends of one room in flight. When one of them is not taken (refused
for now: the send allowance, the cap on commands in flight, the DC not writing; or its append
failed at the write deadline), the ones behind it may already be on their way, and the
allowance, the DC or the log may take them a moment later. Sent again, the refused one would then
land after them. So once a send of a room is not taken, the connection takes none of that room's
later sends until the refused ones come again, oldest first:

- a refused send is *held* (its client id, in the order refused);
- a send is taken when nothing is held, or when it is the oldest held one (sent again);
- held sends found stored meanwhile (sent again over HTTP, or another connection) are let go;
- any other send is refused and held too (409 ``earlier_send_failed``), so that a client that
  sends its refused ones again in another order still gets them taken in the original one.

Held ids are kept for as long as the connection lasts, at most ``max_held`` per room; past that,
further refusals are not remembered (and their order across a resend is the client's).
"""

from __future__ import annotations

from collections.abc import Callable


class SendOrder:
    """The held sends of one connection, per room (see the module's docstring)."""

    __slots__ = ("_held", "_max_held")

    def __init__(self, max_held: int) -> None:
        self._max_held = max_held
        #: room id -> client ids refused and not yet taken, oldest first (a dict keeps the order).
        self._held: dict[str, dict[str, None]] = {}

    def refused(self, room_id: str, client_id: str) -> None:
        """A send of the room was not taken: later ones wait for it."""
        held = self._held.setdefault(room_id, {})
        if len(held) < self._max_held:
            held.setdefault(client_id)

    def may_take(self, room_id: str, client_id: str, stored: Callable[[str], bool]) -> bool:
        """Whether the send may be taken now; if not, it is held. ``stored(client_id)`` says
        whether a held send is in the log by now (then it no longer holds the others back)."""
        held = self._held.get(room_id)
        while held:
            oldest = next(iter(held))
            if oldest != client_id and not stored(oldest):
                self.refused(room_id, client_id)
                return False
            del held[oldest]
            if oldest == client_id:
                break
        if not held:
            self._held.pop(room_id, None)
        return True

    def holding(self, room_id: str) -> int:
        """How many of the room's sends are held."""
        return len(self._held.get(room_id, ()))
