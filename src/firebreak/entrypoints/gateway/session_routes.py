"""The session routes: list one's sessions, end them (one, or all but the current), change the
password (docs/API.md, docs/SECURITY.md). Module without ``from __future__ import annotations``:
FastAPI reads the dependency annotations at run time."""

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.responses import Response

from firebreak.domain.ids import SESSION_ID_PATTERN
from firebreak.entrypoints.gateway import body_params as bodies
from firebreak.entrypoints.gateway import boundary
from firebreak.errors import NotFound
from firebreak.service.accounts import Accounts
from firebreak.service.auth import TokenClaims
from firebreak.wire.views import Ok, SessionList

_SESSION_ID = re.compile(SESSION_ID_PATTERN[1:-1])


def add_session_routes(app: FastAPI, accounts: Accounts, auth: Callable[..., Awaitable[TokenClaims]]) -> None:
    """Adds the routes; after ``DELETE /v1/sessions/current``, which must match first."""
    sessions = accounts.sessions
    Me = Annotated[TokenClaims, Depends(auth)]

    @app.get("/v1/sessions", responses=boundary.doc(SessionList))
    async def list_sessions(me: Me) -> Response:
        return boundary.reply(sessions.list(me))

    @app.delete("/v1/sessions", responses=boundary.doc(SessionList))
    async def end_other_sessions(
        me: Me,
        request_id: Annotated[
            str | None, Query(description="client-chosen id; a retry with the same id is the same request")
        ] = None,
    ) -> Response:
        return boundary.reply(await sessions.end_others(me, request_id))

    @app.delete("/v1/sessions/{session_id}", responses=boundary.doc(Ok) | boundary.errors(404))
    async def end_session(me: Me, session_id: str) -> Response:
        if not _SESSION_ID.fullmatch(session_id):
            raise NotFound("you have no session with this id", code="unknown_session")
        await sessions.end_one(me, session_id)
        return boundary.reply(Ok())

    @app.put("/v1/me/password", responses=boundary.doc(Ok) | boundary.errors(403, 409))
    async def change_password(me: Me, body: bodies.Password) -> Response:
        await sessions.change_password(me, body.current_password, body.new_password, body.request_id)
        return boundary.reply(Ok())
