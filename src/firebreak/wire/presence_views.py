"""What the typing and presence API returns (docs/API.md), shared by the gateway and the client:
the answers of ``POST /v1/rooms/{id}/typing`` and ``GET /v1/rooms/{id}/presence``, and the data of
the ``typing`` and ``presence`` WebSocket frames (wire/frames.py)."""

from __future__ import annotations

import msgspec


class TypingView(msgspec.Struct, frozen=True):
    """``user_id`` is typing in ``room_id`` (``typing: false``: stopped) until ``until`` (ms since
    the epoch, the server's clock), that is ``ttl_ms`` after the server took it. A client shows it
    for ``ttl_ms`` from receipt unless a newer note or the typer's message comes first."""

    room_id: str
    user_id: str
    typing: bool
    until: int
    ttl_ms: int


class PresenceView(msgspec.Struct, frozen=True):
    """One user's presence: ``online`` while a socket of theirs is live at some DC;
    ``last_seen`` (ms since the epoch) when offline and known to this DC, else null."""

    user_id: str
    online: bool
    last_seen: int | None = None


class PresenceList(msgspec.Struct, frozen=True):
    """The presence of a room's members (the caller included)."""

    room_id: str
    members: list[PresenceView]


PRESENCE_VIEWS: tuple[type[msgspec.Struct], ...] = (TypingView, PresenceView, PresenceList)
