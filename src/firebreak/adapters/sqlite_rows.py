"""The rows a DC's read model answers with (adapters/sqlite_queries.py), as the service layer
sees them."""

from __future__ import annotations

import msgspec

from firebreak.domain.events import RoomKind


class UserRow(msgspec.Struct, frozen=True):
    user_id: str
    username: str
    password_hash: str
    display_name: str
    request_id: str
    #: Password changes so far, and the request id of the last one.
    password_gen: int = 0
    password_request_id: str = ""


class SessionRow(msgspec.Struct, frozen=True):
    session_id: str
    started_at: int
    expires_at: int
    dc: str
    client: str


class MessageRow(msgspec.Struct, frozen=True):
    room_id: str
    room_seq: int
    p: int
    seq: int
    sender: str
    client_id: str
    text: str
    at: int
    #: When it was last edited, when it was deleted (milliseconds; 0: never).
    edited_at: int = 0
    deleted_at: int = 0
    #: File ids (docs/FILES.md), separated by spaces; '' for none (and once deleted).
    attachments: str = ""


class RoomRow(msgspec.Struct, frozen=True):
    room_id: str
    kind: RoomKind
    name: str
    creator: str
    partition: int
    last_room_seq: int
    last_at: int


class MembershipRow(msgspec.Struct, frozen=True):
    user_id: str
    joined_seq: int
    read_room_seq: int
