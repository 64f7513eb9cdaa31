"""The API's request bodies, defined once: the client builds them, the gateway decodes them (its
plain-ASGI lanes and its FastAPI routes alike, entrypoints/gateway/boundary.py), and the OpenAPI
document's request schemas are generated from them, with these descriptions.

The rules on the values (patterns, lengths, ranges) are the domain's (domain/validation.py and
config.Limits): checked there with a stable error code each, and added to the document by
entrypoints/gateway/schema.py from the same constants (docs/DECISIONS.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    username: Annotated[str, _doc("3-32 characters of a-z, 0-9 and _")]
    password: str
    request_id: Annotated[str, _doc("client-chosen id; a retry with the same id is the same registration")]
    display_name: str | None = None


class LoginBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    username: str
    password: str


class PasswordBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    current_password: str
    new_password: str
    request_id: Annotated[str, _doc("client-chosen id; a retry with the same id is the same change")]


class ProfileBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    display_name: str


class DirectBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    username: str


class GroupBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    members: Annotated[list[str], _doc("usernames")]
    request_id: str


class InviteBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    members: list[str]
    request_id: str | None = None


class RenameBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    request_id: str | None = None


class LeaveBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    request_id: str | None = None


class SendBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """One message: a client-chosen id (sending it again never creates a second message) and text."""

    client_id: Annotated[str, _doc("client-chosen id; sending it again never creates a second message")]
    text: str
    #: Files of the room to show with the message (docs/FILES.md); the text may then be empty.
    attachments: list[str] | None = None


class BatchBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """1-100 messages, sent in this order or not at all."""

    messages: Annotated[list[SendBody], _doc("1-100 messages, sent in this order or not at all")]


class EditBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A message's new text; ``client_id`` is the edit's own id (sending it again is the same edit)."""

    client_id: Annotated[str, _doc("the edit's own id; sending it again is the same edit")]
    text: str


class ReactBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Adds (``on``) or removes one's reaction with ``emoji`` on a message."""

    emoji: Annotated[str, _doc("one of the reaction set (docs/API.md)")]
    on: Annotated[bool, _doc("true adds the reaction, false removes it")] = True
    request_id: str | None = None


class TypingBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    typing: bool = True


class ReadBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    up_to: Annotated[int, _doc("room_seq of the newest message read")]


class TransferBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A transfer (``POST /v1/wallet/transfers``, docs/PAYMENTS.md)."""

    client_id: Annotated[str, _doc("payer-chosen id; repeating it at any DC returns the first result")]
    to: Annotated[str, _doc("the payee's username")]
    amount: Annotated[int, _doc("minor units (whole won)")]
    room_id: Annotated[
        str | None, _doc("a room both are members of: the transfer shows there as a message")
    ] = None


class FaucetBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An operator's credit (``POST /internal/wallet/faucet``)."""

    username: str
    amount: Annotated[int, _doc("minor units to create in the wallet")]
    request_id: Annotated[str, _doc("operator-chosen id; a retry with the same id is the same credit")]


class UploadBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Starts an upload (``POST /v1/uploads``, docs/FILES.md); the same ``client_id`` again is the
    same upload, at any DC."""

    client_id: str
    room_id: str
    name: str
    size: int
    sha256: str | None = None


ALL_BODIES: tuple[type[msgspec.Struct], ...] = (
    RegisterBody,
    LoginBody,
    PasswordBody,
    ProfileBody,
    DirectBody,
    GroupBody,
    InviteBody,
    RenameBody,
    LeaveBody,
    SendBody,
    BatchBody,
    ReadBody,
    EditBody,
    ReactBody,
    TypingBody,
    TransferBody,
    FaucetBody,
    UploadBody,
)
