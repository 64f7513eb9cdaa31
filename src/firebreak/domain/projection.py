"""The projection: how each event changes the read model. Deterministic and free of I/O.

Every DC runs this same code over the same log and must reach the same state, so a rule may
depend only on the event and on state built from earlier events *of the same stream* (a room's
events all live in one stream). Commands are validated at the gateway for good error messages,
but the gateway may be looking at a stale read model; the projection is the authority: an event
that breaks a rule here (a message from a non-member, a second message with the same client id)
is skipped in every DC alike, and the gateway reports the outcome it reads back.
"""

from __future__ import annotations

import msgspec

from firebreak.domain.events import (
    AccountEvent,
    DisplayNameChanged,
    FileStored,
    MemberLeft,
    MembersInvited,
    MessageDeleted,
    MessageEdited,
    MessageSent,
    PasswordChanged,
    ReactionAdded,
    ReactionRemoved,
    ReadUpTo,
    RoomCreated,
    RoomEvent,
    RoomRenamed,
    SessionRevoked,
    SessionsEnded,
    SessionStarted,
    UserRegistered,
)
from firebreak.domain.model import Applied, ClientEvent, MessageState, RoomState, Store
from firebreak.domain.reactions import REACTIONS

#: Hard cap on room size, part of the rules (so every DC agrees). Gateways may enforce a lower limit.
MAX_ROOM_MEMBERS = 5000
#: Hard caps on how long after sending a message may be edited or deleted for everyone, between
#: the two events' ``at`` (stamped by the gateways that accepted them, and in the log: every DC
#: decides alike, on a rebuild too, whatever its clock says now). The configured windows
#: (config.Limits), which the gateway enforces with a clear answer, may only be shorter: a
#: cap here, not the configured value, so a config change never rewrites what a rebuild decides.
MAX_EDIT_WINDOW_MS = 7 * 24 * 3600 * 1000
MAX_DELETE_WINDOW_MS = 7 * 24 * 3600 * 1000

_encoder = msgspec.json.Encoder()
_client_event = msgspec.json.Decoder(ClientEvent)


class Projection:
    """Applies events to a :class:`Store`. Keeps a membership cache for fan-out.

    The cache mirrors committed-or-pending store state; if a batch's transaction is rolled back the
    owner must call :meth:`forget_cache`.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._members: dict[str, set[str]] = {}

    def forget_cache(self) -> None:
        self._members.clear()

    def members(self, room_id: str) -> set[str]:
        cached = self._members.get(room_id)
        if cached is None:
            cached = set(self._store.active_members(room_id))
            self._members[room_id] = cached
        return cached

    # ---- accounts ---------------------------------------------------------------------------

    def apply_account(self, event: AccountEvent) -> list[str]:
        """Applies an account event; returns the ids of the sessions of ``event.user_id`` it ended.

        Sessions and their ends are all in the accounts stream, so "every session started before
        this event" means the same sessions in every DC, whatever the clocks say."""
        store = self._store
        match event:
            case UserRegistered():
                # A second registration of a taken name cannot reach the log (the gateway publishes
                # with an expected subject sequence of 0); if one ever did, the first one wins.
                store.insert_user(
                    event.user_id,
                    event.username,
                    event.password_hash,
                    event.display_name,
                    event.request_id,
                    event.at,
                )
            case DisplayNameChanged():
                store.set_display_name(event.user_id, event.display_name)
            case SessionRevoked():
                store.revoke_session(event.session_id, event.user_id)
                return [event.session_id]
            case SessionStarted():
                if store.password_gen(event.user_id) not in (None, event.password_gen):
                    # Checked against a password that was changed before this login reached the log.
                    store.revoke_session(event.session_id, event.user_id)
                    return [event.session_id]
                store.start_session(
                    event.session_id, event.user_id, event.at, event.expires_at, event.dc, event.client
                )
            case SessionsEnded():
                if store.has_session(event.user_id, event.keep):
                    return store.end_sessions(event.user_id, event.keep)
            case PasswordChanged():
                # Only a live session may change the password: of two changes made at once from two
                # sessions, the first in the log ends the other session, and the second is skipped.
                if store.has_session(event.user_id, event.keep):
                    store.set_password(event.user_id, event.password_hash, event.request_id)
                    return store.end_sessions(event.user_id, event.keep)
        return []

    # ---- rooms ------------------------------------------------------------------------------

    def apply_room(self, partition: int, seq: int, event: RoomEvent) -> Applied | None:
        """Applies one room event at stream position ``seq``; returns what to push, or None if the
        event broke a rule and changed nothing. The caller records the stream position (once per
        batch, in the same transaction)."""
        store = self._store
        room = store.get_room(event.room_id)
        room_seq = 0
        unread = 0
        read_from = 0
        extra_recipient: str | None = None
        match event:
            case RoomCreated():
                if room is not None:
                    return None
                store.insert_room(event.room_id, event.kind, event.name, event.creator, partition, event.at)
                members = _unique((event.creator, *event.members))[:MAX_ROOM_MEMBERS]
                if event.kind == "direct" and len(members) != 2:
                    return None
                for user_id in members:
                    store.join(event.room_id, user_id, seq)
                self._members[event.room_id] = set(members)
            case MembersInvited():
                if room is None or room.kind != "group" or event.by not in self.members(event.room_id):
                    return None
                current = self.members(event.room_id)
                new = [u for u in _unique(event.user_ids) if u not in current]
                new = new[: max(0, MAX_ROOM_MEMBERS - len(current))]
                if not new:
                    return None
                for user_id in new:
                    store.join(event.room_id, user_id, seq)
                    current.add(user_id)
            case MemberLeft():
                if room is None or room.kind != "group" or event.user_id not in self.members(event.room_id):
                    return None
                read_from = self._read_position(event.room_id, event.user_id)
                store.leave(event.room_id, event.user_id, seq)
                self.members(event.room_id).discard(event.user_id)
                extra_recipient = event.user_id
            case RoomRenamed():
                if room is None or room.kind != "group" or event.by not in self.members(event.room_id):
                    return None
                store.rename_room(event.room_id, event.name)
            case MessageSent():
                if room is None or event.sender not in self.members(event.room_id):
                    return None
                if event.attachments and not store.room_has_files(event.room_id, event.attachments):
                    return None  # only files stored in this room, earlier in its stream
                room_seq = room.last_room_seq + 1
                if not store.insert_message(
                    event.room_id,
                    room_seq,
                    partition,
                    seq,
                    event.sender,
                    event.client_id,
                    event.text,
                    event.at,
                ):
                    # A retry that came after JetStream's dedupe window: the first copy stands.
                    # Scoped to the room on purpose: a check across rooms would depend on the order
                    # in which a DC applies different streams, and DCs would disagree.
                    return None
                unread = len(self.members(event.room_id)) - 1
                read_from = self._read_position(event.room_id, event.sender)
                store.set_room_last(event.room_id, room_seq, event.at)
                # Sending a message means having read everything up to it.
                store.set_read(event.room_id, event.sender, room_seq)
                if event.attachments:
                    store.set_attachments(event.room_id, room_seq, event.attachments)
            case ReadUpTo():
                if room is None or event.user_id not in self.members(event.room_id):
                    return None
                read_from = self._read_position(event.room_id, event.user_id)
                up_to = min(event.room_seq, room.last_room_seq)
                if up_to <= read_from:
                    return None
                store.set_read(event.room_id, event.user_id, up_to)
                # The pushed event carries the clamped position; the original stays in the log.
                event = msgspec.structs.replace(event, room_seq=up_to)
            case MessageEdited():
                if (
                    self._own_message(room, event.room_seq, event.sender, event.at, MAX_EDIT_WINDOW_MS)
                    is None
                ):
                    return None
                if not store.edit_message(
                    event.room_id, event.room_seq, partition, seq, event.client_id, event.text, event.at
                ):
                    return None  # the same edit again, after JetStream's dedupe window
            case MessageDeleted():
                if (
                    self._own_message(room, event.room_seq, event.sender, event.at, MAX_DELETE_WINDOW_MS)
                    is None
                ):
                    return None
                for position in store.delete_message(event.room_id, event.room_seq, event.at):
                    self._scrub(*position)
            case ReactionAdded() | ReactionRemoved():
                if (
                    room is None
                    or event.user_id not in self.members(event.room_id)
                    or event.emoji not in REACTIONS
                ):
                    return None
                message = store.get_message(event.room_id, event.room_seq)
                if message is None or message.deleted:
                    return None
                key = (event.room_id, event.room_seq, event.emoji, event.user_id)
                changed = (
                    store.add_reaction(*key, event.at)
                    if isinstance(event, ReactionAdded)
                    else store.remove_reaction(*key)
                )
                if not changed:
                    return None  # already so: nothing to push
            case FileStored():
                # Only a member's upload belongs to the room; a second copy of the event (a retried
                # completion after the dedupe window) changes nothing.
                if room is None or event.uploader not in self.members(event.room_id):
                    return None
                if not store.insert_file(event, partition, seq):
                    return None
        body = _encoder.encode(
            ClientEvent(
                p=partition, seq=seq, room_seq=room_seq, event=event, unread=unread, read_from=read_from
            )
        )
        store.append_event(partition, seq, event.room_id, body)
        recipients = set(self.members(event.room_id))
        if extra_recipient is not None:
            recipients.add(extra_recipient)
        return Applied(
            partition=partition,
            seq=seq,
            room_id=event.room_id,
            recipients=tuple(recipients),
            body=body,
            at=event.at,
        )

    def _own_message(
        self, room: RoomState | None, room_seq: int, sender: str, at: int, window_ms: int
    ) -> MessageState | None:
        """The message, if ``sender`` (a member) sent it, it is not deleted, and ``at`` is within
        ``window_ms`` of its sending."""
        if room is None or sender not in self.members(room.room_id):
            return None
        message = self._store.get_message(room.room_id, room_seq)
        if message is None or message.deleted or message.sender != sender or at - message.at > window_ms:
            return None
        return message

    def _scrub(self, partition: int, seq: int) -> None:
        """Blanks the text in the stored client event at this position (WebSocket catch-up would
        otherwise still serve a deleted message's words)."""
        body = self._store.event_body(partition, seq)
        if body is None:
            return
        stored = _client_event.decode(body)
        if isinstance(stored.event, MessageSent | MessageEdited):
            gone = {"attachments": (), "v": 1} if isinstance(stored.event, MessageSent) else {}
            event = msgspec.structs.replace(stored.event, text="", **gone)
            blank = msgspec.structs.replace(stored, event=event)
            self._store.replace_event(partition, seq, _encoder.encode(blank))

    def _read_position(self, room_id: str, user_id: str) -> int:
        member = self._store.get_member(room_id, user_id)
        return member.read_room_seq if member is not None else 0


def _unique(values: tuple[str, ...]) -> list[str]:
    """Order-preserving dedupe (sets would make the result depend on hash seeds)."""
    return list(dict.fromkeys(values))
