"""Read-side values and the store contract the projection writes through."""

from __future__ import annotations

from typing import Protocol

import msgspec

from firebreak.domain.events import FileStored, RoomEvent, RoomKind


class RoomState(msgspec.Struct, frozen=True):
    room_id: str
    kind: RoomKind
    name: str
    partition: int
    last_room_seq: int


class MemberState(msgspec.Struct, frozen=True):
    active: bool
    joined_seq: int
    read_room_seq: int


class MessageState(msgspec.Struct, frozen=True):
    """What the rules for edits, deletes and reactions read of a message."""

    sender: str
    at: int
    deleted: bool


class ClientEvent(msgspec.Struct, frozen=True):
    """What a client receives for one room event: its log position and the event itself.

    ``room_seq`` is the message's number within its room (1, 2, 3, ...) for ``message_sent`` and 0
    for everything else.

    Two fields let a client keep KakaoTalk's per-message unread numbers exact without asking:

    * ``unread``: for ``message_sent``, the number the message is born with (members - 1);
    * ``read_from``: the previous read position of whoever's position moved: the reader for
      ``read_up_to``, the sender for ``message_sent`` (sending reads up to one's own message), the
      leaver for ``member_left``. Every message with a room_seq above ``read_from`` (and up to the
      new position; for a leave, all of them) now counts one reader fewer.
    """

    p: int
    seq: int
    room_seq: int
    event: RoomEvent
    unread: int = 0
    read_from: int = 0


class Applied(msgspec.Struct, frozen=True):
    """An accepted room event, ready for live fan-out to ``recipients``."""

    partition: int
    seq: int
    room_id: str
    recipients: tuple[str, ...]
    body: bytes
    #: The event's ``at`` (milliseconds since the epoch): for the send-to-delivery latency metric.
    at: int = 0


class Store(Protocol):
    """What the projection needs from a read model. Implementations must be transactional: the
    caller commits all effects of a batch together with the new log positions."""

    # rooms
    def get_room(self, room_id: str) -> RoomState | None: ...
    def insert_room(
        self, room_id: str, kind: RoomKind, name: str, creator: str, partition: int, at: int
    ) -> None: ...
    def rename_room(self, room_id: str, name: str) -> None: ...
    def set_room_last(self, room_id: str, room_seq: int, at: int) -> None: ...

    # members
    def get_member(self, room_id: str, user_id: str) -> MemberState | None: ...
    def active_members(self, room_id: str) -> list[str]: ...
    def join(self, room_id: str, user_id: str, seq: int) -> None: ...
    def leave(self, room_id: str, user_id: str, seq: int) -> None: ...
    def set_read(self, room_id: str, user_id: str, room_seq: int) -> None: ...

    # messages and the catch-up log
    def insert_message(
        self,
        room_id: str,
        room_seq: int,
        partition: int,
        seq: int,
        sender: str,
        client_id: str,
        text: str,
        at: int,
    ) -> bool:
        """Inserts a message unless the room already holds one from ``sender`` with
        ``client_id``; returns whether it inserted."""
        ...

    def append_event(self, partition: int, seq: int, room_id: str, body: bytes) -> None: ...
    def event_body(self, partition: int, seq: int) -> bytes | None: ...
    def replace_event(self, partition: int, seq: int, body: bytes) -> None: ...

    # edits and deletes
    def get_message(self, room_id: str, room_seq: int) -> MessageState | None: ...
    def edit_message(
        self, room_id: str, room_seq: int, partition: int, seq: int, client_id: str, text: str, at: int
    ) -> bool:
        """Replaces the text, keeping the one it replaces in the edit history, unless the message
        already has an edit with ``client_id``; returns whether it edited."""
        ...

    def delete_message(self, room_id: str, room_seq: int, at: int) -> list[tuple[int, int]]:
        """Marks the message deleted and drops its text, its edit history's texts, its search
        row and its reactions; returns the log positions (partition, seq) of the events that
        carried its text."""
        ...

    # reactions
    def add_reaction(self, room_id: str, room_seq: int, emoji: str, user_id: str, at: int) -> bool:
        """Adds the user's reaction unless it is there; returns whether it added."""
        ...

    def remove_reaction(self, room_id: str, room_seq: int, emoji: str, user_id: str) -> bool:
        """Removes the user's reaction if it is there; returns whether it removed."""
        ...

    # files (docs/FILES.md)
    def insert_file(self, event: FileStored, partition: int, seq: int) -> bool:
        """Records a stored file unless its id is known; returns whether it inserted."""
        ...

    def room_has_files(self, room_id: str, file_ids: tuple[str, ...]) -> bool:
        """Whether every one of ``file_ids`` (distinct) is a file stored in ``room_id``."""
        ...

    def set_attachments(self, room_id: str, room_seq: int, file_ids: tuple[str, ...]) -> None: ...

    # accounts
    def insert_user(
        self, user_id: str, username: str, password_hash: str, display_name: str, request_id: str, at: int
    ) -> bool: ...
    def set_display_name(self, user_id: str, display_name: str) -> None: ...
    def revoke_session(self, session_id: str, user_id: str) -> None: ...
    def password_gen(self, user_id: str) -> int | None:
        """How many password changes the user has had; None for an unknown user."""
        ...

    def set_password(self, user_id: str, password_hash: str, request_id: str) -> None:
        """Replaces the hash, counts one more change, remembers the change's request id."""
        ...

    def start_session(
        self, session_id: str, user_id: str, started_at: int, expires_at: int, dc: str, client: str
    ) -> None:
        """Records a live session (unless it was revoked already)."""
        ...

    def has_session(self, user_id: str, session_id: str) -> bool:
        """Whether ``session_id`` is a live session of ``user_id``."""
        ...

    def end_sessions(self, user_id: str, keep: str) -> list[str]:
        """Revokes every live session of the user but ``keep``; returns their ids, sorted."""
        ...

    # log positions
    def set_position(self, stream: str, seq: int) -> None: ...
