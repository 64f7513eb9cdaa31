"""Shows what arrives on the live connection: messages with time, room and sender; room events as
sentences naming who did what; read receipts of the current room."""

from __future__ import annotations

from firebreak.domain.events import (
    MemberLeft,
    MembersInvited,
    MessageDeleted,
    MessageEdited,
    MessageSent,
    ReactionAdded,
    ReadUpTo,
    RoomCreated,
    RoomRenamed,
)
from firebreak.domain.model import ClientEvent

from . import attachments
from .commands import Chat
from .screen import event_line, message_line, room_event_text


async def show(chat: Chat, item: ClientEvent) -> None:
    e = item.event
    book, me = chat.book, chat.me
    room = await book.get(e.room_id)
    if isinstance(e, MessageSent):
        if e.client_id in chat.outbox.mine:
            return  # typed here: the outbox has shown it, with its delivery mark
        who = "me" if e.sender == me else await book.person(e.sender, e.room_id)
        files = await attachments.describe(chat.client, list(e.attachments)) if e.attachments else ""
        chat.screen.line(message_line(e.at, room.title, who, e.text + files))
        room.last = e.text
        if e.sender != me:
            room.unread += 1
            if chat.room is not room:
                chat.switch(room, "replies now go to room")
    elif isinstance(e, MessageEdited | MessageDeleted):
        who = "you" if e.sender == me else await book.person(e.sender, e.room_id)
        what = f"edited #{e.room_seq}: {e.text}" if isinstance(e, MessageEdited) else f"deleted #{e.room_seq}"
        chat.screen.line(event_line(e.at, room.title, f"{who} {what}"))
    elif isinstance(e, ReactionAdded):
        who = "you" if e.user_id == me else await book.person(e.user_id, e.room_id)
        chat.screen.line(event_line(e.at, room.title, f"{who} reacted {e.emoji} to #{e.room_seq}"))
    elif isinstance(e, ReadUpTo):
        if chat.room is room and e.user_id != me:
            chat.screen.line(f"  ({await book.person(e.user_id, e.room_id)} read up to #{e.room_seq})")
    elif isinstance(e, RoomCreated | MembersInvited | MemberLeft | RoomRenamed):
        book.members_changed(e.room_id)
        if isinstance(e, RoomRenamed):
            room.title = e.name
        actor_id, named = _who(e)
        actor = "you" if actor_id == me else await book.person(actor_id, e.room_id)
        people = ["you" if u == me else await book.person(u, e.room_id) for u in named if u != actor_id]
        text = room_event_text(e, actor, people)
        if text is not None:
            chat.screen.line(event_line(e.at, room.title, text))


def _who(e: RoomCreated | MembersInvited | MemberLeft | RoomRenamed) -> tuple[str, tuple[str, ...]]:
    """Who did it, and whom else it names."""
    if isinstance(e, RoomCreated):
        return e.creator, e.members
    if isinstance(e, MembersInvited):
        return e.by, e.user_ids
    if isinstance(e, MemberLeft):
        return e.user_id, ()
    return e.by, ()
