"""Commands over the live WebSocket, client to server, and their acknowledgements: one type for
both ends (the gateway's entrypoints/gateway/ws_commands.py, the client's client/live_sends.py;
docs/API.md says what a client does with them).

    {"kind":"send","ref":"r1","room_id":"...","client_id":"...","text":"hi"}
    {"kind":"read","ref":"r2","room_id":"...","up_to":17}

    {"kind":"ack","ref":"r1","status":201,"result":{...}}       # result: the HTTP answer's body
    {"kind":"ack","ref":"r2","status":429,"code":"rate_limited","message":"...","retry_after_s":1}

``ref`` is the client's name for one command on one connection: the ack carries it back. It is not
an idempotency key: ``client_id`` is (a resend after a reconnect uses the same client_id, and may
use a new ref). ``status`` and ``result`` are those of the same request over HTTP
(``POST /v1/rooms/{room_id}/messages``: 201, or 200 for a duplicate; ``POST .../read``: 200), and
so are an error's ``code``, ``message`` and ``retry_after_s`` (HTTP's ``Retry-After``).
"""

from __future__ import annotations

import json
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")

#: The 409 code of a send refused because an earlier send of the same room on the same connection
#: was not taken and has not come again (domain/send_order.py): send that one again first.
EARLIER_SEND_FAILED = "earlier_send_failed"


class SendCommand(msgspec.Struct, tag_field="kind", tag="send", forbid_unknown_fields=True, frozen=True):
    """One message, as ``POST /v1/rooms/{room_id}/messages`` with body {client_id, text}."""

    ref: str
    room_id: str
    client_id: str
    text: str


class ReadCommand(msgspec.Struct, tag_field="kind", tag="read", forbid_unknown_fields=True, frozen=True):
    """Mark read, as ``POST /v1/rooms/{room_id}/read`` with body {up_to}."""

    ref: str
    room_id: str
    up_to: int


Command = SendCommand | ReadCommand


class Ack(msgspec.Struct, Generic[T], tag_field="kind", tag="ack", frozen=True, omit_defaults=True):
    """The answer to one command (``"kind": "ack"``): ``result`` on success (status 200/201),
    else ``code``, ``message`` and, for 429 and some 503s, ``retry_after_s``."""

    ref: str
    status: int
    result: T | None = None
    code: str | None = None
    message: str | None = None
    retry_after_s: int | None = None
    #: Of a send: where this room's writes should go (the HTTP answer's Firebreak-Write-Url): a
    #: client whose socket is at another DC may send that room's next messages there.
    write_url: str | None = None


class RawAck(msgspec.Struct, tag_field="kind", tag="ack", frozen=True):
    """An ack as the client first decodes it: ``result`` still encoded (empty when there is none),
    to be decoded as its command's answer type."""

    ref: str
    status: int
    result: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    code: str | None = None
    message: str | None = None
    retry_after_s: int | None = None
    write_url: str | None = None


class _Ref(msgspec.Struct):
    """What is read of a frame that is not a valid command, to address the error ack."""

    ref: str | None = None


_command = msgspec.json.Decoder(Command)
_ref = msgspec.json.Decoder(_Ref)
_encoder = msgspec.json.Encoder()
_raw_ack = msgspec.json.Decoder(RawAck)


def decode_command(frame: bytes | str) -> Command:
    """The command in ``frame``; raises msgspec.ValidationError or msgspec.DecodeError."""
    return _command.decode(frame)


def ref_of(frame: bytes | str) -> str | None:
    """The ``ref`` of a frame that is not a valid command, if it has a string one."""
    try:
        return _ref.decode(frame).ref
    except msgspec.ValidationError:
        return None
    except msgspec.DecodeError:
        pass
    # JSON that msgspec refuses (a lone surrogate escape in some field) may still name its ref.
    try:
        ref = json.loads(frame).get("ref")
    except (ValueError, RecursionError, AttributeError):
        return None
    return ref if isinstance(ref, str) else None


def encode_command(command: Command) -> bytes:
    return _encoder.encode(command)


def ok_ack(ref: str, status: int, result: object, write_url: str | None = None) -> bytes:
    return _encoder.encode(Ack(ref=ref, status=status, result=result, write_url=write_url))


def error_ack(ref: str, status: int, code: str, message: str, retry_after_s: int | None = None) -> bytes:
    return _encoder.encode(
        Ack[None](ref=ref, status=status, code=code, message=message, retry_after_s=retry_after_s)
    )


def decode_ack(frame: bytes | str) -> RawAck:
    return _raw_ack.decode(frame)
