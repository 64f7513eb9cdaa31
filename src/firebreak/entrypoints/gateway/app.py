"""The HTTP + WebSocket API of one DC (see docs/API.md; the OpenAPI document is at /openapi.json)."""

import hmac
from typing import Annotated, Protocol

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import Response
from starlette.types import ASGIApp

from firebreak.config import Config, DCConfig
from firebreak.entrypoints.gateway import asyncapi, boundary
from firebreak.entrypoints.gateway import body_params as bodies
from firebreak.entrypoints.gateway.apidocs import install_docs
from firebreak.entrypoints.gateway.file_routes import CHUNK_PATH, add_file_routes
from firebreak.entrypoints.gateway.gatekeeper import Gatekeeper
from firebreak.entrypoints.gateway.heartbeats import Heartbeats
from firebreak.entrypoints.gateway.hot import HotLane
from firebreak.entrypoints.gateway.hot_contract import SEND_OPERATION, LaneMetrics
from firebreak.entrypoints.gateway.message_routes import add_message_routes
from firebreak.entrypoints.gateway.ops import add_ops_routes
from firebreak.entrypoints.gateway.pay_lane import PayLane
from firebreak.entrypoints.gateway.presence_routes import add_presence_routes
from firebreak.entrypoints.gateway.session_routes import add_session_routes
from firebreak.entrypoints.gateway.wallet_routes import add_wallet_routes
from firebreak.entrypoints.gateway.ws_commands import LiveCommands
from firebreak.entrypoints.oidc.admin_routes import add_oidc_admin_routes
from firebreak.entrypoints.oidc.routes import add_oidc_routes
from firebreak.entrypoints.ops_console.routes import add_console
from firebreak.entrypoints.web.routes import WebApp
from firebreak.errors import BadRequest, FirebreakError, Forbidden, Unavailable
from firebreak.service.accounts import Accounts
from firebreak.service.auth import TokenClaims
from firebreak.service.files import Files
from firebreak.service.message_changes import MessageChanges
from firebreak.service.messages import Messages
from firebreak.service.oidc_provider import OidcProvider
from firebreak.service.presence import Presence
from firebreak.service.room_queries import RoomQueries
from firebreak.service.rooms import Rooms
from firebreak.service.search import Search
from firebreak.service.sessions import LiveSession
from firebreak.service.wallets import Wallets
from firebreak.wire.views import (
    WRITE_URL_HEADER,
    BatchResult,
    Digest,
    Drained,
    Health,
    History,
    Ok,
    ReadResult,
    RoomDetail,
    RoomList,
    RoomView,
    SessionView,
    UserView,
)


class AppMetrics(LaneMetrics, Protocol):
    """What the web layer counts and serves of adapters/metrics.py's GatewayMetrics."""

    def sent_batch(self, new: int, duplicates: int) -> None: ...
    def batch_failed(self, code: str, messages: int) -> None: ...
    def exposition(self) -> bytes: ...


class GatewayParts(Protocol):
    """What the web layer uses of a running gateway (bootstrap.Gateway, built in bootstrap/__init__.py):
    the use cases, the session factory, and health, digest, drain and refusals for operations."""

    config: Config
    dc: DCConfig
    #: Which of the DC's gateway processes this is.
    process: int
    accounts: Accounts
    rooms: Rooms
    messages: Messages
    room_queries: RoomQueries
    search: Search
    message_changes: MessageChanges
    oidc: OidcProvider
    wallets: Wallets
    #: Typing and presence (set once the gateway is assembled).
    presence: Presence | None
    files: Files

    @property
    def metrics(self) -> AppMetrics: ...

    def health(self) -> Health: ...
    def digest(self) -> Digest: ...
    def new_session(self, user_id: str, session_id: str, cursor: str | None) -> LiveSession: ...
    def refusal(self, writing: bool = False) -> Unavailable | None: ...
    def write_url(self, room_id: str) -> str | None: ...
    async def drain(self) -> Drained: ...


def create_app(gw: GatewayParts) -> ASGIApp:
    """The gateway's ASGI app: the Gatekeeper (refusals, body limits), then the hot lane (single
    sends and the live WebSocket, hot.py), then FastAPI for everything else."""
    app = FastAPI(
        title="Firebreak",
        version="1",
        description="A messenger whose every change is an event in a log replicated across three DCs. "
        "The live WebSocket (`/v1/ws`: frames, commands, close codes) is described by the AsyncAPI "
        f"document at `{asyncapi.PATH}`.",
        docs_url=None,
        redoc_url=None,
    )
    boundary.install(app, gw.config.limits, extra_operations=SEND_OPERATION, refused=gw.metrics.refused)
    install_docs(app)
    asyncapi.install_asyncapi(app, gw.config.limits)

    accounts, rooms, room_queries = gw.accounts, gw.rooms, gw.room_queries

    # Dependencies are ``async def``: FastAPI runs plain ``def`` ones in a thread pool, a thread hop
    # per request that showed up in a gateway's profile under load (docs/PERFORMANCE.md).
    async def auth(authorization: Annotated[str | None, Header()] = None) -> TokenClaims:
        return boundary.bearer(authorization, accounts)

    Me = Annotated[TokenClaims, Depends(auth)]

    # ---- accounts ---------------------------------------------------------------------------

    @app.post(
        "/v1/accounts", responses=boundary.doc(UserView, 201) | boundary.errors(409, 429), status_code=201
    )
    async def register(body: bodies.Register, request: Request) -> Response:
        user = await accounts.register(
            body.username, body.password, body.display_name, body.request_id, boundary.source(request)
        )
        return boundary.reply(user, 201)

    @app.post(
        "/v1/sessions", responses=boundary.doc(SessionView, 201) | boundary.errors(401, 429), status_code=201
    )
    async def login(body: bodies.Login, request: Request) -> Response:
        client = request.headers.get("user-agent", "")  # shown in the session list
        return boundary.reply(
            await accounts.login(body.username, body.password, boundary.source(request), client), 201
        )

    @app.delete("/v1/sessions/current", responses=boundary.doc(Ok))
    async def logout(me: Me) -> Response:
        await accounts.logout(me)
        return boundary.reply(Ok())

    add_session_routes(app, accounts, auth)

    @app.get("/v1/me", responses=boundary.doc(UserView) | boundary.errors(404))
    async def whoami(me: Me) -> Response:
        return boundary.reply(accounts.me(me.user_id))

    @app.patch("/v1/me", responses=boundary.doc(UserView) | boundary.errors(404, 409, 429))
    async def profile(me: Me, body: bodies.Profile) -> Response:
        return boundary.reply(await accounts.set_display_name(me.user_id, body.display_name))

    # ---- rooms ------------------------------------------------------------------------------

    @app.get("/v1/rooms", responses=boundary.doc(RoomList))
    async def list_rooms(me: Me) -> Response:
        return boundary.reply(room_queries.list_rooms(me.user_id))

    @app.post("/v1/rooms/direct", responses=boundary.doc(RoomView) | boundary.errors(404, 429))
    async def open_direct(me: Me, body: bodies.Direct) -> Response:
        return boundary.reply(await rooms.open_direct(me.user_id, body.username))

    @app.post(
        "/v1/rooms", responses=boundary.doc(RoomView, 201) | boundary.errors(404, 409, 429), status_code=201
    )
    async def create_group(me: Me, body: bodies.Group) -> Response:
        return boundary.reply(
            await rooms.create_group(me.user_id, body.name, body.members, body.request_id), 201
        )

    @app.get("/v1/rooms/{room_id}", responses=boundary.doc(RoomDetail) | boundary.errors(404))
    async def room_detail(me: Me, room_id: str) -> Response:
        return boundary.reply(await room_queries.detail(me.user_id, room_id))

    @app.patch("/v1/rooms/{room_id}", responses=boundary.doc(RoomView) | boundary.errors(404, 409, 429))
    async def rename(me: Me, room_id: str, body: bodies.Rename) -> Response:
        return boundary.reply(await rooms.rename(me.user_id, room_id, body.name, body.request_id))

    @app.post(
        "/v1/rooms/{room_id}/members", responses=boundary.doc(RoomView) | boundary.errors(404, 409, 429)
    )
    async def invite(me: Me, room_id: str, body: bodies.Invite) -> Response:
        return boundary.reply(await rooms.invite(me.user_id, room_id, body.members, body.request_id))

    @app.post("/v1/rooms/{room_id}/leave", responses=boundary.doc(Ok) | boundary.errors(404, 409, 429))
    async def leave(me: Me, room_id: str, body: bodies.Leave) -> Response:
        await rooms.leave(me.user_id, room_id, body.request_id)
        return boundary.reply(Ok())

    @app.post(
        "/v1/rooms/{room_id}/messages/batch",
        responses=boundary.doc(BatchResult) | boundary.errors(404, 409, 429),
    )
    async def send_batch(me: Me, room_id: str, body: bodies.Batch) -> Response:
        if any(m.attachments for m in body.messages):
            raise BadRequest("attachments are sent one message at a time", code="invalid_batch")
        items = [(m.client_id, m.text) for m in body.messages]
        try:
            results = await gw.messages.send_batch(me.user_id, room_id, items)
        except FirebreakError as exc:
            gw.metrics.batch_failed(exc.code, len(items))
            raise
        duplicates = sum(r.duplicate for r in results)
        gw.metrics.sent_batch(len(results) - duplicates, duplicates)
        response = boundary.reply(BatchResult(results=results))
        hint = gw.write_url(room_id)
        if hint:
            response.headers[WRITE_URL_HEADER] = hint
        return response

    @app.get("/v1/rooms/{room_id}/messages", responses=boundary.doc(History) | boundary.errors(404))
    async def history(
        me: Me,
        room_id: str,
        before: Annotated[int | None, Query(description="page backwards from this room_seq")] = None,
        after: Annotated[int | None, Query(description="page forwards from this room_seq")] = None,
        limit: int = 50,
    ) -> Response:
        return boundary.reply(await room_queries.history(me.user_id, room_id, before, after, limit))

    @app.post("/v1/rooms/{room_id}/read", responses=boundary.doc(ReadResult) | boundary.errors(404, 429))
    async def mark_read(me: Me, room_id: str, body: bodies.Read) -> Response:
        return boundary.reply(await rooms.mark_read(me.user_id, room_id, body.up_to))

    add_presence_routes(app, lambda: gw.presence, auth)

    add_message_routes(app, gw.message_changes, gw.search, gw.write_url, auth)

    # ---- operations -------------------------------------------------------------------------

    @app.get("/healthz", responses=boundary.doc(Health))
    async def health() -> Response:
        return boundary.reply(gw.health())

    async def ops(x_ops_token: Annotated[str | None, Header()] = None) -> None:
        if not x_ops_token or not hmac.compare_digest(x_ops_token, gw.config.secrets.ops_token):
            raise Forbidden("ops endpoints need X-Ops-Token", code="ops_only")

    @app.get(
        "/internal/digest", dependencies=[Depends(ops)], responses=boundary.doc(Digest) | boundary.errors(403)
    )
    async def digest() -> Response:
        return boundary.reply(gw.digest())

    @app.post(
        "/internal/drain", dependencies=[Depends(ops)], responses=boundary.doc(Drained) | boundary.errors(403)
    )
    async def drain() -> Response:
        """Planned outage: refuse new requests with 503 and end live sessions, so clients move to
        other DCs before this one goes down; where the DC runs several gateway processes, the one
        asked tells the others (``processes_drained`` of ``processes`` did)."""
        return boundary.reply(await gw.drain())

    add_wallet_routes(app, gw.wallets, auth, ops)
    add_file_routes(app, gw.files, auth)
    add_ops_routes(app, gw.config, gw.dc.name, ops)
    add_oidc_routes(app, gw.oidc, accounts, gw.config, gw.dc)
    add_oidc_admin_routes(app, gw.oidc, auth, ops)
    add_console(app, gw, ops)  # /ops, /status, /metrics

    lane = HotLane(
        PayLane(app, accounts=accounts, wallets=gw.wallets),
        accounts=accounts,
        messages=gw.messages,
        new_session=gw.new_session,
        refusal=gw.refusal,
        write_url=gw.write_url,
        metrics=gw.metrics,
        heartbeats=Heartbeats(gw.config.limits.ws_heartbeat_s, longest_s=gw.config.limits.ws_heartbeat_max_s),
        commands=LiveCommands(
            accounts=accounts,
            rooms=rooms,
            messages=gw.messages,
            refusal=gw.refusal,
            limits=gw.config.limits,
            metrics=gw.metrics,
            write_url=gw.write_url,
        ),
    )
    limits = gw.config.limits
    chunks = (CHUNK_PATH, max(limits.upload_chunk_bytes, limits.max_body_bytes))
    gatekeeper = Gatekeeper(lane, limits.max_body_bytes, gw.refusal, large=chunks)
    return WebApp(gatekeeper, gw.config, gw.dc.name)
