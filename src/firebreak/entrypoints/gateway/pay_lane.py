"""``POST /v1/wallet/transfers`` answered in plain ASGI, in front of FastAPI, as hot.py answers
single sends: a transfer is a small request on a hot path, and FastAPI's routing, dependency
solving and pydantic validation cost about as much as the transfer itself (docs/PAYMENTS.md).
FastAPI keeps the route (wallet_routes.py) for the OpenAPI document; the same rules apply here:
a body that FastAPI would refuse is refused with the same status and code."""

from __future__ import annotations

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from firebreak.entrypoints.gateway.bodies import undecodable
from firebreak.entrypoints.gateway.boundary import bearer, error_response
from firebreak.entrypoints.gateway.hot import _answer, _read_body
from firebreak.errors import BadRequest, FirebreakError
from firebreak.service.accounts import Accounts
from firebreak.service.wallets import Wallets
from firebreak.wire.requests import TransferBody

PATH = "/v1/wallet/transfers"


# msgspec refuses a boolean or a float for an int, as pydantic's strict int does.
_decode = msgspec.json.Decoder(TransferBody).decode
_encode = msgspec.json.Encoder().encode


class PayLane:
    def __init__(self, app: ASGIApp, *, accounts: Accounts, wallets: Wallets) -> None:
        self._app = app
        self._accounts = accounts
        self._wallets = wallets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        try:
            authorization = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                    break
            body = await _read_body(receive)
            claims = bearer(authorization, self._accounts)
            try:
                parsed = _decode(body)
            except msgspec.ValidationError as exc:
                raise BadRequest(f"body: {exc}", code="malformed_request") from exc
            except msgspec.DecodeError as exc:
                raise undecodable(body, exc) from exc
            result = await self._wallets.transfer(
                claims.user_id, parsed.client_id, parsed.to, parsed.amount, parsed.room_id
            )
        except FirebreakError as exc:
            await error_response(exc.status, exc.code, exc.message, exc.headers())(scope, receive, send)
            return
        await _answer(send, 200 if result.duplicate else 201, _encode(result), [])
