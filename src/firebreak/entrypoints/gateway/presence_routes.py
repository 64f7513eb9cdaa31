"""The typing and presence routes (docs/API.md; the frames they cause are in wire/frames.py).
Module without ``from __future__ import annotations``: FastAPI reads the dependency annotations
at run time."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from firebreak.entrypoints.gateway import body_params as bodies
from firebreak.entrypoints.gateway import boundary
from firebreak.errors import Unavailable
from firebreak.service.auth import TokenClaims
from firebreak.service.presence import Presence
from firebreak.wire.presence_views import PresenceList, TypingView


def add_presence_routes(
    app: FastAPI, presence: Callable[[], Presence | None], auth: Callable[..., Awaitable[TokenClaims]]
) -> None:
    Me = Annotated[TokenClaims, Depends(auth)]

    def running() -> Presence:
        found = presence()
        if found is None:  # only between the gateway's assembly and its first request
            raise Unavailable("typing and presence are starting; try again", code="dc_starting")
        return found

    @app.post(
        "/v1/rooms/{room_id}/typing",
        responses=boundary.doc(TypingView) | boundary.errors(404, 429, 503),
    )
    async def typing(me: Me, room_id: str, body: bodies.Typing) -> Response:
        """Tells the room's other members, live, that the caller is typing (or, with
        ``typing: false``, stopped). Send it again every few seconds while typing goes on."""
        return boundary.reply(await running().typing(me.user_id, room_id, body.typing))

    @app.get(
        "/v1/rooms/{room_id}/presence",
        responses=boundary.doc(PresenceList) | boundary.errors(404, 503),
    )
    async def room_presence(me: Me, room_id: str) -> Response:
        """Who of the room's members is online now, and when the others were last seen."""
        return boundary.reply(await running().of_room(me.user_id, room_id))
