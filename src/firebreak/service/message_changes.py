"""Editing and deleting one's own messages, and reactions (docs/API.md "Edit and delete",
"Reactions").

The gateway checks the configured windows (``edit_window_s``, ``delete_window_s``) against its
clock for a clear answer; the projection decides with the events' own times against the rules'
hard caps (domain/projection.py), so every DC, and every rebuild, decides alike.
"""

from __future__ import annotations

import secrets

import msgspec

from firebreak.adapters.nats_log import Log
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_rows import MessageRow
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.ids import room_subject
from firebreak.domain.model import ClientEvent
from firebreak.domain.reactions import check_reaction
from firebreak.domain.validation import check_client_id, check_message_text, check_position
from firebreak.errors import Conflict, Forbidden, NotFound
from firebreak.service.accounts import now_ms
from firebreak.service.ratelimit import WriteLimiter
from firebreak.service.room_queries import RoomQueries, message_view, unknown_room
from firebreak.service.sync import Freshness
from firebreak.wire.views import EditHistory, MessageView, TextVersion

_client_event = msgspec.json.Decoder(ClientEvent)


def unknown_message() -> NotFound:
    return NotFound("no such message in this room", code="unknown_message")


class MessageChanges:
    def __init__(
        self,
        config: Config,
        log: Log,
        queries: Queries,
        fresh: Freshness,
        limiter: WriteLimiter,
        views: RoomQueries,
    ) -> None:
        self._partitions = config.partitions
        self._limits = config.limits
        self._log = log
        self._q = queries
        self._fresh = fresh
        self._limiter = limiter
        self._views = views

    async def edit(self, me: str, room_id: str, room_seq: int, client_id: str, text: str) -> MessageView:
        """Replaces the text of the caller's message; the same ``client_id`` again is the same edit."""
        check_client_id(client_id)
        check_message_text(text, self._limits.max_message_chars)
        check_position(room_seq, "room_seq", minimum=1)
        await self._views.member_room(room_id, me)
        row = self._own(me, room_id, room_seq)
        event = ev.MessageEdited(
            v=1, at=now_ms(), room_id=room_id, sender=me, room_seq=room_seq, client_id=client_id, text=text
        )
        if self._edit_done(event):
            return self._view(room_id, room_seq)
        if row.deleted_at:
            raise Conflict("this message was deleted", code="message_deleted")
        self._check_window(row, self._limits.edit_window_s, "edited", "edit_window_closed")
        await self._append(event, f"edit:{room_id}:{room_seq}:{client_id}")
        if not self._edit_done(event):
            self._refused(me, room_id, room_seq, self._limits.edit_window_s, "edited", "edit_window_closed")
        return self._view(room_id, room_seq)

    async def delete(self, me: str, room_id: str, room_seq: int) -> MessageView:
        """Deletes the caller's message for everyone; deleting it again answers the same."""
        check_position(room_seq, "room_seq", minimum=1)
        await self._views.member_room(room_id, me)
        row = self._own(me, room_id, room_seq)
        if not row.deleted_at:
            self._check_window(row, self._limits.delete_window_s, "deleted", "delete_window_closed")
            event = ev.MessageDeleted(v=1, at=now_ms(), room_id=room_id, sender=me, room_seq=room_seq)
            # Deleting is one-way, so the message itself names the operation: every retry of it,
            # from any device, is the same append.
            await self._append(event, f"delete:{room_id}:{room_seq}")
            if not self._row(room_id, room_seq).deleted_at:
                self._refused(
                    me, room_id, room_seq, self._limits.delete_window_s, "deleted", "delete_window_closed"
                )
        return self._view(room_id, room_seq)

    async def react(
        self, me: str, room_id: str, room_seq: int, emoji: str, on: bool, request_id: str | None
    ) -> MessageView:
        """Adds (``on``) or removes the caller's reaction; either is a no-op when already so."""
        index = check_reaction(emoji)
        check_position(room_seq, "room_seq", minimum=1)
        if request_id is not None:
            check_client_id(request_id, "request_id")
        await self._views.member_room(room_id, me)
        row = self._row(room_id, room_seq)
        if row.deleted_at:
            raise Conflict("this message was deleted", code="message_deleted")
        mine = (emoji, me) in self._q.reactions(room_id, room_seq, room_seq).get(room_seq, [])
        if mine != on:
            rid = request_id or secrets.token_hex(8)
            kind = ev.ReactionAdded if on else ev.ReactionRemoved
            event = kind(
                v=1, at=now_ms(), room_id=room_id, user_id=me, room_seq=room_seq, emoji=emoji, request_id=rid
            )
            sign = "+" if on else "-"
            await self._append(event, f"react:{room_id}:{room_seq}:{me}:{index}{sign}:{rid}")
        return self._view(room_id, room_seq)

    async def edits(self, me: str, room_id: str, room_seq: int) -> EditHistory:
        """The message's versions, for any member of the room (as its history shows it)."""
        check_position(room_seq, "room_seq", minimum=1)
        await self._views.member_room(room_id, me)
        row = self._row(room_id, room_seq)
        view = message_view(row, self._q.unread_count(room_id, row.seq, row.room_seq))
        if row.deleted_at:
            return EditHistory(message=view, versions=[])
        earlier = self._q.edit_history(room_id, room_seq)
        # Each edit kept the text it replaced; that text was written by the step before it.
        times = [row.at, *(at for _, at in earlier)]
        texts = [*(text for text, _ in earlier), row.text]
        return EditHistory(
            message=view, versions=[TextVersion(text=t, at=a) for t, a in zip(texts, times, strict=True)]
        )

    # ---- helpers ------------------------------------------------------------------------------

    async def _append(self, event: ev.RoomEvent, msg_id: str) -> None:
        with self._limiter.admit(event):
            appended = await self._log.append(
                room_subject(event.room_id, self._partitions), ev.encode(event), msg_id
            )
            await self._fresh.until_applied(appended)

    def _row(self, room_id: str, room_seq: int) -> MessageRow:
        row = self._q.message(room_id, room_seq)
        if row is None:
            raise unknown_message()
        return row

    def _own(self, me: str, room_id: str, room_seq: int) -> MessageRow:
        row = self._row(room_id, room_seq)
        if row.sender != me:
            raise Forbidden("only its sender may change a message", code="not_your_message")
        return row

    @staticmethod
    def _check_window(row: MessageRow, window_s: int, done: str, code: str) -> None:
        if now_ms() - row.at > window_s * 1000:
            raise Forbidden(f"a message can be {done} within {_duration(window_s)} of sending", code=code)

    def _refused(self, me: str, room_id: str, room_seq: int, window_s: int, done: str, code: str) -> None:
        """The projection skipped our event: say why, as the read model now shows it."""
        if not self._q.is_active_member(room_id, me):
            raise unknown_room()  # left the room between the check and the append
        row = self._own(me, room_id, room_seq)
        if row.deleted_at:
            raise Conflict("this message was deleted", code="message_deleted")
        # Otherwise the window closed between this gateway's check and the event's time.
        raise Forbidden(f"a message can be {done} within {_duration(window_s)} of sending", code=code)

    def _edit_done(self, event: ev.MessageEdited) -> bool:
        """Whether this edit is in the read model; 409 if its id was used for another text."""
        position = self._q.edit_position(event.room_id, event.room_seq, event.client_id)
        if position is None:
            return False
        body = self._q.event_body(*position)
        stored = _client_event.decode(body).event if body is not None else None
        if isinstance(stored, ev.MessageEdited) and stored.text not in (event.text, ""):
            raise Conflict("this client_id was already used for another edit", code="client_id_reused")
        return True

    def _view(self, room_id: str, room_seq: int) -> MessageView:
        row = self._row(room_id, room_seq)
        reacted = self._q.reactions(room_id, room_seq, room_seq).get(room_seq)
        return message_view(row, self._q.unread_count(room_id, row.seq, row.room_seq), reacted)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
