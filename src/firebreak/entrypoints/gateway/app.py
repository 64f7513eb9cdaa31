"""The HTTP + WebSocket API of one DC (see docs/API.md; the OpenAPI document is at /openapi.json)."""

import hmac
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp

from firebreak.bootstrap import Gateway
from firebreak.domain.ids import Cursor
from firebreak.entrypoints.gateway import boundary as b
from firebreak.entrypoints.gateway.apidocs import install_docs
from firebreak.entrypoints.gateway.hot import SEND_OPERATION, HotLane
from firebreak.entrypoints.gateway.ops import add_ops_routes
from firebreak.entrypoints.gateway.session_routes import add_session_routes
from firebreak.entrypoints.ops_console.routes import add_console
from firebreak.errors import Forbidden
from firebreak.service.auth import TokenClaims
from firebreak.service.sessions import LiveSession
from firebreak.wire.views import (
    WRITE_URL_HEADER,
    BatchResult,
    History,
    Ok,
    ReadResult,
    RoomDetail,
    RoomList,
    RoomView,
    SessionView,
    UserView,
)


def create_app(gw: Gateway) -> ASGIApp:
    """The gateway's ASGI app: the Gatekeeper (refusals, body limits), then the hot lane (single
    sends and the live WebSocket, hot.py), then FastAPI for everything else."""
    app = FastAPI(
        title="Firebreak",
        version="1",
        description="A messenger whose every change is an event in a log replicated across three DCs.",
        docs_url=None,
        redoc_url=None,
    )
    b.install(app, gw.config.limits, extra_operations=SEND_OPERATION)
    install_docs(app)

    accounts, rooms = gw.accounts, gw.rooms

    # Dependencies are ``async def``: FastAPI runs plain ``def`` ones in a thread pool, a thread hop
    # per request that showed up in a gateway's profile under load (docs/PERFORMANCE.md).
    async def auth(authorization: Annotated[str | None, Header()] = None) -> TokenClaims:
        return b.bearer(authorization, accounts)

    Me = Annotated[TokenClaims, Depends(auth)]

    # ---- accounts ---------------------------------------------------------------------------

    @app.post("/v1/accounts", responses=b.doc(UserView, 201) | b.errors(409), status_code=201)
    async def register(body: b.RegisterBody) -> Response:
        user = await accounts.register(body.username, body.password, body.display_name, body.request_id)
        return b.reply(user, 201)

    @app.post("/v1/sessions", responses=b.doc(SessionView, 201) | b.errors(401), status_code=201)
    async def login(body: b.LoginBody, request: Request) -> Response:
        client = request.headers.get("user-agent", "")  # shown in the session list
        return b.reply(await accounts.login(body.username, body.password, client), 201)

    @app.delete("/v1/sessions/current", responses=b.doc(Ok))
    async def logout(me: Me) -> Response:
        await accounts.logout(me)
        return b.reply(Ok())

    add_session_routes(app, accounts, auth)

    @app.get("/v1/me", responses=b.doc(UserView) | b.errors(404))
    async def whoami(me: Me) -> Response:
        return b.reply(accounts.me(me.u))

    @app.patch("/v1/me", responses=b.doc(UserView) | b.errors(404, 409))
    async def profile(me: Me, body: b.ProfileBody) -> Response:
        return b.reply(await accounts.set_display_name(me.u, body.display_name))

    # ---- rooms ------------------------------------------------------------------------------

    @app.get("/v1/rooms", responses=b.doc(RoomList))
    async def list_rooms(me: Me) -> Response:
        return b.reply(rooms.list_rooms(me.u))

    @app.post("/v1/rooms/direct", responses=b.doc(RoomView) | b.errors(404))
    async def open_direct(me: Me, body: b.DirectBody) -> Response:
        return b.reply(await rooms.open_direct(me.u, body.username))

    @app.post("/v1/rooms", responses=b.doc(RoomView, 201) | b.errors(404, 409), status_code=201)
    async def create_group(me: Me, body: b.GroupBody) -> Response:
        return b.reply(await rooms.create_group(me.u, body.name, body.members, body.request_id), 201)

    @app.get("/v1/rooms/{room_id}", responses=b.doc(RoomDetail) | b.errors(404))
    async def room_detail(me: Me, room_id: str) -> Response:
        return b.reply(await rooms.detail(me.u, room_id))

    @app.patch("/v1/rooms/{room_id}", responses=b.doc(RoomView) | b.errors(404, 409))
    async def rename(me: Me, room_id: str, body: b.RenameBody) -> Response:
        return b.reply(await rooms.rename(me.u, room_id, body.name, body.request_id))

    @app.post("/v1/rooms/{room_id}/members", responses=b.doc(RoomView) | b.errors(404, 409))
    async def invite(me: Me, room_id: str, body: b.InviteBody) -> Response:
        return b.reply(await rooms.invite(me.u, room_id, body.members, body.request_id))

    @app.post("/v1/rooms/{room_id}/leave", responses=b.doc(Ok) | b.errors(404, 409))
    async def leave(me: Me, room_id: str, body: b.LeaveBody) -> Response:
        await rooms.leave(me.u, room_id, body.request_id)
        return b.reply(Ok())

    @app.post("/v1/rooms/{room_id}/messages/batch", responses=b.doc(BatchResult) | b.errors(404, 409, 429))
    async def send_batch(me: Me, room_id: str, body: b.BatchBody) -> Response:
        items = [(m.client_id, m.text) for m in body.messages]
        results = await rooms.send_batch(me.u, room_id, items)
        duplicates = sum(r.duplicate for r in results)
        gw.metrics.sent_batch(len(results) - duplicates, duplicates)
        response = b.reply(BatchResult(results=results))
        hint = gw.write_url(room_id)
        if hint:
            response.headers[WRITE_URL_HEADER] = hint
        return response

    @app.get("/v1/rooms/{room_id}/messages", responses=b.doc(History) | b.errors(404))
    async def history(
        me: Me,
        room_id: str,
        before: Annotated[int | None, Query(description="page backwards from this room_seq")] = None,
        after: Annotated[int | None, Query(description="page forwards from this room_seq")] = None,
        limit: int = 50,
    ) -> Response:
        return b.reply(await rooms.history(me.u, room_id, before, after, limit))

    @app.post("/v1/rooms/{room_id}/read", responses=b.doc(ReadResult) | b.errors(404))
    async def mark_read(me: Me, room_id: str, body: b.ReadBody) -> Response:
        return b.reply(await rooms.mark_read(me.u, room_id, body.up_to))

    # ---- operations -------------------------------------------------------------------------

    @app.get("/healthz")
    async def health() -> JSONResponse:
        ready = gw.serving()
        return JSONResponse(
            {
                "dc": gw.dc.name,
                "cursor": str(gw.projector.head_cursor()),
                "head": gw.projector.head,
                "connections": gw.hub.connections,
                "draining": gw.draining,
                "caught_up": gw.readiness.caught_up(),
                "readers": {r.stream: r.state.value for r in gw.readers},
                # Ready = serving: readers running and the read model caught up with the log.
                "ready": ready,
                **({} if ready else {"waiting_for": gw.readiness.progress()}),
            }
        )

    async def ops(x_ops_token: Annotated[str | None, Header()] = None) -> None:
        if not x_ops_token or not hmac.compare_digest(x_ops_token, gw.config.secrets.ops_token):
            raise Forbidden("ops endpoints need X-Ops-Token", code="ops_only")

    @app.get("/internal/digest", dependencies=[Depends(ops)], responses=b.errors(403))
    async def digest() -> JSONResponse:
        return JSONResponse(
            {
                "dc": gw.dc.name,
                "head": gw.projector.head,
                "digest": gw.queries.digest(),
                "counts": gw.queries.counts(),
            }
        )

    @app.post("/internal/drain", dependencies=[Depends(ops)], responses=b.errors(403))
    async def drain() -> JSONResponse:
        """Planned outage: refuse new requests with 503 and end live sessions, so clients move to
        other DCs before this one goes down."""
        return JSONResponse({"dc": gw.dc.name, "draining": True, "ended_sessions": await gw.drain()})

    add_ops_routes(app, gw.config, gw.dc.name, ops)
    add_console(app, gw, ops)  # /ops, /status, /metrics

    def new_session(user_id: str, session_id: str, cursor: str | None) -> LiveSession:
        start = Cursor.parse(cursor, gw.config.partitions) if cursor else None
        return LiveSession(
            user_id,
            start,
            gw.projector,
            gw.queries,
            gw.hub,
            gw.config.limits.ws_queue_max,
            session_id,
            deliveries=gw.metrics,
        )

    lane = HotLane(
        app,
        accounts=accounts,
        rooms=rooms,
        new_session=new_session,
        refusal=gw.refusal,
        write_url=gw.write_url,
        metrics=gw.metrics,
    )
    return b.Gatekeeper(lane, gw.config.limits.max_body_bytes, gw.refusal)
