"""Shows typing and presence notes of the current room's people: "(bob is typing)" once per
stretch of typing (renewals within a note's lifetime print nothing), and "(bob is online)" /
"(bob went offline)". The terminal reads whole lines, so it sends no typing notes itself."""

from __future__ import annotations

import time

from firebreak.wire.presence_views import PresenceView, TypingView

from .commands import Chat


class Notes:
    def __init__(self, chat: Chat) -> None:
        self._chat = chat
        #: (room_id, user_id) -> when (time.monotonic()) the typing shown runs out.
        self._typing: dict[tuple[str, str], float] = {}

    async def show(self, note: TypingView | PresenceView) -> None:
        chat = self._chat
        room = chat.room
        if room is None:
            return
        if isinstance(note, TypingView):
            key = (note.room_id, note.user_id)
            now = time.monotonic()
            shown = self._typing.get(key, 0.0) > now
            if not note.typing:
                self._typing.pop(key, None)
                return
            self._typing[key] = now + note.ttl_ms / 1000
            if not shown and note.room_id == room.room_id:
                chat.screen.line(f"  ({await chat.book.person(note.user_id, room.room_id)} is typing)")
            return
        members = {m.user_id for m in await chat.book.members(room.room_id)}
        if note.user_id in members and note.user_id != chat.me:
            name = await chat.book.person(note.user_id, room.room_id)
            chat.screen.line(f"  ({name} is online)" if note.online else f"  ({name} went offline)")

    def message_from(self, room_id: str, user_id: str) -> None:
        """A message ends its sender's typing: the next note prints again."""
        self._typing.pop((room_id, user_id), None)
