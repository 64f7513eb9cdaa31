"""Keeps KakaoTalk's per-message unread numbers current from the live stream.

Seed it with a history page (which carries each message's number as the server computed it), then
feed it every live event; it applies the same rule as the server, so the numbers stay equal to what
a fresh history call would return.
"""

from __future__ import annotations

from firebreak.domain.events import MemberLeft, MessageSent, ReadUpTo
from firebreak.domain.model import ClientEvent
from firebreak.wire.views import MessageView


class UnreadBook:
    def __init__(self) -> None:
        #: room_id -> room_seq -> unread number, for the messages this client holds.
        self.rooms: dict[str, dict[int, int]] = {}

    def seed(self, messages: list[MessageView]) -> None:
        for m in messages:
            self.rooms.setdefault(m.room_id, {})[m.room_seq] = m.unread

    def unread(self, room_id: str, room_seq: int) -> int | None:
        return self.rooms.get(room_id, {}).get(room_seq)

    def apply(self, item: ClientEvent) -> None:
        e = item.event
        if isinstance(e, MessageSent):
            book = self.rooms.setdefault(e.room_id, {})
            book[item.room_seq] = item.unread
            self._one_fewer(book, item.read_from, item.room_seq - 1)
        elif isinstance(e, ReadUpTo):
            self._one_fewer(self.rooms.get(e.room_id, {}), item.read_from, e.room_seq)
        elif isinstance(e, MemberLeft):
            book = self.rooms.get(e.room_id, {})
            self._one_fewer(book, item.read_from, max(book, default=0))

    @staticmethod
    def _one_fewer(book: dict[int, int], after: int, up_to: int) -> None:
        for room_seq in range(after + 1, up_to + 1):
            if book.get(room_seq, 0) > 0:
                book[room_seq] -= 1
