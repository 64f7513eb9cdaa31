"""The API's request bodies: built by the client, decoded by the gateway's hot lane (single and
batch sends). FastAPI's routes validate their bodies with pydantic models of the same names and
fields (entrypoints/gateway/boundary.py), which also carry the OpenAPI descriptions;
tests/test_wire.py keeps every pair equal, field for field."""

from __future__ import annotations

import msgspec


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    username: str
    password: str
    request_id: str
    display_name: str | None = None


class LoginBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    username: str
    password: str


class PasswordBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    current_password: str
    new_password: str
    request_id: str


class ProfileBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    display_name: str


class DirectBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    username: str


class GroupBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    members: list[str]
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

    client_id: str
    text: str
    #: Files of the room to show with the message (docs/FILES.md); the text may then be empty.
    attachments: list[str] | None = None


class BatchBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """1-100 messages, sent in this order or not at all."""

    messages: list[SendBody]


class EditBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A message's new text; ``client_id`` is the edit's own id (sending it again is the same edit)."""

    client_id: str
    text: str


class ReactBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Adds (``on``) or removes one's reaction with ``emoji`` on a message."""

    emoji: str
    on: bool = True
    request_id: str | None = None


class ReadBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    up_to: int


class TransferBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A transfer (``POST /v1/wallet/transfers``, docs/PAYMENTS.md)."""

    client_id: str
    to: str
    amount: int
    room_id: str | None = None


class FaucetBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An operator's credit (``POST /internal/wallet/faucet``)."""

    username: str
    amount: int
    request_id: str


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
    TransferBody,
    FaucetBody,
    UploadBody,
)
