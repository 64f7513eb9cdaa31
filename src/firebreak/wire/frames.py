"""The WebSocket frames, server to client: one type for both ends (service/sessions.py says when
each is sent, docs/API.md what a client does with it).

    {"kind":"event","cursor":"c1-...","data":{"p":0,"seq":17,"room_seq":5,"event":{...}}}
    {"kind":"events","cursor":"c1-...","data":[{...},{...}]}   # several, in order
    {"kind":"ready","cursor":"c1-...","heartbeat_s":5.0}        # catch-up done; live from here
    {"kind":"error","code":"session_revoked","message":"..."}   # then the socket closes
    {"kind":"typing","typing":{"room_id":"g_...","user_id":"...","typing":true,"until":...,"ttl_ms":5000}}
    {"kind":"presence","presence":[{"user_id":"...","online":false,"last_seen":...}]}
    {"kind":"heartbeat"}                                        # every ws_heartbeat_s: still here

``typing`` and ``presence`` frames are ephemeral (not in the log, no cursor): service/presence.py.

The server writes each event's JSON once, when it is applied, and puts those bytes into every
frame that carries it (``msgspec.Raw``); clients decode the same frame type with typed events.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from firebreak.domain.model import ClientEvent
from firebreak.wire.presence_views import PresenceView, TypingView

T = TypeVar("T")


class Frame(msgspec.Struct, Generic[T], frozen=True, omit_defaults=True):
    kind: str
    #: The position just past the frame's last event (``event``, ``events``, ``ready``).
    cursor: str | None = None
    data: T | None = None
    code: str | None = None
    message: str | None = None
    #: A ``typing`` frame's note.
    typing: TypingView | None = None
    #: A ``presence`` frame's changes.
    presence: list[PresenceView] | None = None
    #: A ``ready`` frame's heartbeat interval: a ``heartbeat`` frame comes about this often
    #: (absent from an older DC: 5 s).
    heartbeat_s: float | None = None


#: What a client decodes.
ClientFrame = Frame[ClientEvent | list[ClientEvent]]

#: The fields each kind of frame always carries besides ``kind`` (others it may carry:
#: ``heartbeat_s`` on ``ready``). The AsyncAPI description's messages are made from this
#: (entrypoints/gateway/asyncapi.py), and tests/test_asyncapi.py checks every frame built below
#: against them.
FRAME_FIELDS: dict[str, tuple[str, ...]] = {
    "event": ("cursor", "data"),
    "events": ("cursor", "data"),
    "ready": ("cursor",),
    "error": ("code", "message"),
    "typing": ("typing",),
    "presence": ("presence",),
    "heartbeat": (),
}

_encoder = msgspec.json.Encoder()


def events_frame(cursor: str, bodies: list[bytes]) -> bytes:
    """One ``event`` frame, or an ``events`` frame for several, from the events' encoded JSON."""
    if len(bodies) == 1:
        return _encoder.encode(Frame(kind="event", cursor=cursor, data=msgspec.Raw(bodies[0])))
    return _encoder.encode(
        Frame(kind="events", cursor=cursor, data=msgspec.Raw(b"[" + b",".join(bodies) + b"]"))
    )


def ready_frame(cursor: str, heartbeat_s: float | None = None) -> bytes:
    return _encoder.encode(Frame[None](kind="ready", cursor=cursor, heartbeat_s=heartbeat_s))


def error_frame(code: str, message: str) -> bytes:
    return _encoder.encode(Frame[None](kind="error", code=code, message=message))


def typing_frame(note: TypingView) -> bytes:
    return _encoder.encode(Frame[None](kind="typing", typing=note))


def presence_frame(changes: list[PresenceView]) -> bytes:
    return _encoder.encode(Frame[None](kind="presence", presence=changes))


#: Sent every ``Limits.ws_heartbeat_s``, or the longer interval the client asked for, on a live
#: socket: silence longer than a few of these means the DC stopped answering even if its TCP
#: connection is still open (browsers cannot send pings).
HEARTBEAT_FRAME = _encoder.encode(Frame[None](kind="heartbeat")).decode()
