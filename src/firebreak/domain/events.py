"""Typed, versioned events: the only things ever written to the log.

Each event is a frozen msgspec Struct with a ``type`` tag and a schema version ``v``. Decoding
rejects unknown fields and unknown types, so a malformed entry in the log fails loudly instead of
being half-applied. Adding a field means a new version with a default; removing or renaming one
means a new type.

Events of one room all go to one subject of one partition stream, so everything a room's
projection depends on is totally ordered. Account events go to the accounts stream. No rule in
the projection looks across streams, because two DCs may apply different streams in different
interleavings.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class _Event(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    v: int
    at: int  # milliseconds since the epoch, stamped by the gateway that accepted the command

    def __post_init__(self) -> None:
        if self.v != 1:
            raise msgspec.ValidationError(f"unsupported version {self.v} for {type(self).__name__}")


# ---- accounts stream ----------------------------------------------------------------------


class UserRegistered(_Event, frozen=True, tag="user_registered"):
    user_id: str
    username: str
    password_hash: str
    display_name: str
    #: The client's id for the registration: a retry after a lost acknowledgement is recognised by it.
    request_id: str


class DisplayNameChanged(_Event, frozen=True, tag="display_name_changed"):
    user_id: str
    display_name: str


class SessionRevoked(_Event, frozen=True, tag="session_revoked"):
    user_id: str
    session_id: str


class SessionStarted(_Event, frozen=True, tag="session_started"):
    """A login. AppendAck before the token is handed out, so every session a token names is in the
    log before the token can be used anywhere."""

    user_id: str
    session_id: str
    expires_at: int  # seconds since the epoch, as in the token
    dc: str  # the DC that accepted the login
    client: str  # the client's description (its User-Agent, shortened)
    #: How many password changes the login's DC had applied when it checked the password: a login
    #: with a password changed meanwhile is ended as the projection applies it.
    password_gen: int


class SessionsEnded(_Event, frozen=True, tag="sessions_ended"):
    """Log out everywhere: ends every session of the user started earlier in the log but ``keep``."""

    user_id: str
    keep: str  # the session that asked (it stays); a session already ended asks nothing
    request_id: str


class PasswordChanged(_Event, frozen=True, tag="password_changed"):
    """The new password's hash; ends every session of the user started earlier in the log but
    ``keep`` (the one that changed it)."""

    user_id: str
    password_hash: str
    keep: str
    request_id: str


AccountEvent = (
    UserRegistered | DisplayNameChanged | SessionRevoked | SessionStarted | SessionsEnded | PasswordChanged
)


# ---- room partition streams ----------------------------------------------------------------

RoomKind = Literal["direct", "group"]


class RoomCreated(_Event, frozen=True, tag="room_created"):
    room_id: str
    kind: RoomKind
    name: str
    creator: str
    members: tuple[str, ...]


class MembersInvited(_Event, frozen=True, tag="members_invited"):
    room_id: str
    by: str
    user_ids: tuple[str, ...]


class MemberLeft(_Event, frozen=True, tag="member_left"):
    room_id: str
    user_id: str


class RoomRenamed(_Event, frozen=True, tag="room_renamed"):
    room_id: str
    by: str
    name: str


class MessageSent(_Event, frozen=True, tag="message_sent", omit_defaults=True):
    """A message. Version 2 adds ``attachments``: ids of files stored in the same room
    (``file_stored`` earlier in the room's stream, docs/FILES.md); its text may then be empty."""

    room_id: str
    sender: str
    client_id: str
    text: str
    attachments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Version 2 is exactly the messages with attachments: an old reader refuses them loudly.
        if self.v != (2 if self.attachments else 1):
            raise msgspec.ValidationError(f"unsupported version {self.v} for MessageSent")


class ReadUpTo(_Event, frozen=True, tag="read_up_to"):
    room_id: str
    user_id: str
    room_seq: int


class MessageEdited(_Event, frozen=True, tag="message_edited"):
    """The sender replaces the text of their message ``room_seq``; ``client_id`` is the edit's own
    id (one edit per (room, sender, client_id), whatever the retries)."""

    room_id: str
    sender: str
    room_seq: int
    client_id: str
    text: str


class MessageDeleted(_Event, frozen=True, tag="message_deleted"):
    """The sender deletes their message ``room_seq`` for everyone: its text leaves the read model."""

    room_id: str
    sender: str
    room_seq: int


class ReactionAdded(_Event, frozen=True, tag="reaction_added"):
    """``user_id`` reacts to message ``room_seq`` with ``emoji`` (one of domain/reactions.py's)."""

    room_id: str
    user_id: str
    room_seq: int
    emoji: str
    #: The client's id for this change (the log's de-duplication key with it).
    request_id: str


class ReactionRemoved(_Event, frozen=True, tag="reaction_removed"):
    room_id: str
    user_id: str
    room_seq: int
    emoji: str
    request_id: str


class FileStored(_Event, frozen=True, tag="file_stored"):
    """An upload completed: the file's bytes (and an image's thumbnail) are in the replicated
    object store under ``file_id`` (docs/FILES.md), and every member of the room may fetch it.
    Appended only after the bytes are stored, so a file the read model knows is always whole."""

    room_id: str
    uploader: str
    file_id: str
    name: str
    size: int
    #: Sniffed from the bytes at completion, never the client's word.
    content_type: str
    sha256: str  # hex, of the whole file
    width: int = 0  # images only
    height: int = 0
    #: The thumbnail's size in bytes (0: none) and type; stored as ``<file_id>.thumb``.
    thumb_size: int = 0
    thumb_type: str = ""


RoomEvent = (
    RoomCreated
    | MembersInvited
    | MemberLeft
    | RoomRenamed
    | MessageSent
    | ReadUpTo
    | MessageEdited
    | MessageDeleted
    | ReactionAdded
    | ReactionRemoved
    | FileStored
)

# ---- wallets stream -------------------------------------------------------------------------
# One stream, one subject per wallet (``wallet.<user_id>``): the whole ledger has one order, so
# whether a transfer is covered depends only on earlier entries of the same stream, the same in
# every DC (docs/PAYMENTS.md).


class WalletCredited(_Event, frozen=True, tag="wallet_credited"):
    """Money created by an operator (the faucet): the only way money enters the ledger."""

    user_id: str
    amount: int  # minor units
    #: The operator's id for the credit: a retry with the same id is the same credit.
    request_id: str


class TransferMade(_Event, frozen=True, tag="transfer_made"):
    """One double entry: ``amount`` leaves ``payer``'s wallet and enters ``payee``'s, or, if the
    payer's balance at this log position does not cover it, nothing moves (refused, in every DC)."""

    payer: str
    payee: str
    amount: int  # minor units
    #: The payer's idempotency key: the first transfer with it in the log is the only one.
    client_id: str
    #: The room the transfer was made in, if any (shown there as a message).
    room_id: str | None = None


WalletEvent = WalletCredited | TransferMade

Event = AccountEvent | RoomEvent | WalletEvent

_encoder = msgspec.json.Encoder()
_room_decoder = msgspec.json.Decoder(RoomEvent)
_account_decoder = msgspec.json.Decoder(AccountEvent)
_wallet_decoder = msgspec.json.Decoder(WalletEvent)


def encode(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_room_event(data: bytes) -> RoomEvent:
    """Decodes a room-stream entry; raises msgspec.ValidationError/DecodeError on anything malformed."""
    event: RoomEvent = _room_decoder.decode(data)
    return event


def decode_account_event(data: bytes) -> AccountEvent:
    event: AccountEvent = _account_decoder.decode(data)
    return event


def decode_wallet_event(data: bytes) -> WalletEvent:
    event: WalletEvent = _wallet_decoder.decode(data)
    return event
