"""Routes on one message (edit, delete, reactions, edit history) and search (docs/API.md).
Module without ``from __future__ import annotations``: FastAPI reads the dependency annotations
at run time."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.responses import Response

from firebreak.entrypoints.gateway import body_params as bodies
from firebreak.entrypoints.gateway import boundary
from firebreak.service.auth import TokenClaims
from firebreak.service.message_changes import MessageChanges
from firebreak.service.search import Search
from firebreak.wire.views import WRITE_URL_HEADER, EditHistory, MessageView, SearchResult


def add_message_routes(
    app: FastAPI,
    changes: MessageChanges,
    finder: Search,
    write_url: Callable[[str], str | None],
    auth: Callable[..., Awaitable[TokenClaims]],
) -> None:
    Me = Annotated[TokenClaims, Depends(auth)]

    def hinted(room_id: str, view: MessageView) -> Response:
        response = boundary.reply(view)
        hint = write_url(room_id)
        if hint:
            response.headers[WRITE_URL_HEADER] = hint
        return response

    @app.patch(
        "/v1/rooms/{room_id}/messages/{room_seq}",
        responses=boundary.doc(MessageView) | boundary.errors(403, 404, 409, 413, 429),
    )
    async def edit_message(me: Me, room_id: str, room_seq: int, body: bodies.Edit) -> Response:
        return hinted(room_id, await changes.edit(me.user_id, room_id, room_seq, body.client_id, body.text))

    @app.delete(
        "/v1/rooms/{room_id}/messages/{room_seq}",
        responses=boundary.doc(MessageView) | boundary.errors(403, 404, 409, 429),
    )
    async def delete_message(me: Me, room_id: str, room_seq: int) -> Response:
        return hinted(room_id, await changes.delete(me.user_id, room_id, room_seq))

    @app.post(
        "/v1/rooms/{room_id}/messages/{room_seq}/reactions",
        responses=boundary.doc(MessageView) | boundary.errors(404, 409, 429),
    )
    async def react(me: Me, room_id: str, room_seq: int, body: bodies.React) -> Response:
        view = await changes.react(me.user_id, room_id, room_seq, body.emoji, body.on, body.request_id)
        return hinted(room_id, view)

    @app.get(
        "/v1/rooms/{room_id}/messages/{room_seq}/edits",
        responses=boundary.doc(EditHistory) | boundary.errors(404),
    )
    async def edit_history(me: Me, room_id: str, room_seq: int) -> Response:
        return boundary.reply(await changes.edits(me.user_id, room_id, room_seq))

    # ---- search -----------------------------------------------------------------------------

    @app.get("/v1/search", responses=boundary.doc(SearchResult) | boundary.errors(404))
    async def search(
        me: Me,
        q: Annotated[str, Query(description="words to find, all of them (docs/API.md)")],
        room_id: Annotated[str | None, Query(description="only this room")] = None,
        limit: Annotated[int | None, Query(description="hits per page")] = None,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
        order: Annotated[
            str, Query(description="`newest` (first) or `relevance` (best first, bm25)")
        ] = "newest",
    ) -> Response:
        return boundary.reply(await finder.search(me.user_id, q, room_id, limit, cursor, order))
