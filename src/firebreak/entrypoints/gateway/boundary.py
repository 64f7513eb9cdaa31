"""The HTTP boundary: error rendering, body limits, request schemas and the OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firebreak.errors import FirebreakError, Unauthorized
from firebreak.service.accounts import Accounts
from firebreak.service.auth import TokenClaims
from firebreak.service.views import ALL_VIEWS

_encoder = msgspec.json.Encoder()


def reply(view: msgspec.Struct, status: int = 200) -> Response:
    return Response(content=_encoder.encode(view), media_type="application/json", status_code=status)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def bearer(authorization: str | None, accounts: Accounts) -> TokenClaims:
    """The claims of an ``Authorization: Bearer <token>`` header (401 if missing or not valid)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("send Authorization: Bearer <token>", code="missing_token")
    return accounts.authenticate(authorization.removeprefix("Bearer ").strip())


def doc(view: type[msgspec.Struct], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entry for a msgspec view (its schema is added by :func:`install`)."""
    ref = {"$ref": f"#/components/schemas/{view.__name__}"}
    return {
        status: {
            "description": view.__doc__ or view.__name__,
            "content": {"application/json": {"schema": ref}},
        }
    }


# ---- request bodies (pydantic, so FastAPI validates them and documents them) ---------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterBody(_Body):
    username: str = Field(description="3-32 characters of a-z, 0-9 and _")
    password: str
    display_name: str | None = None
    request_id: str = Field(description="client-chosen id; a retry with the same id is the same registration")


class LoginBody(_Body):
    username: str
    password: str


class ProfileBody(_Body):
    display_name: str


class DirectBody(_Body):
    username: str


class GroupBody(_Body):
    name: str
    members: list[str] = Field(description="usernames")
    request_id: str


class InviteBody(_Body):
    members: list[str]
    request_id: str | None = None


class RenameBody(_Body):
    name: str
    request_id: str | None = None


class LeaveBody(_Body):
    request_id: str | None = None


class SendBody(_Body):
    client_id: str = Field(description="client-chosen id; sending it again never creates a second message")
    text: str


class BatchBody(_Body):
    messages: list[SendBody] = Field(description="1-100 messages, sent in this order or not at all")


class ReadBody(_Body):
    up_to: int = Field(description="room_seq of the newest message read")


# ---- wiring into FastAPI --------------------------------------------------------------------


class Gatekeeper:
    """Plain ASGI (Starlette's BaseHTTPMiddleware costs a task per request): refuses API calls
    while ``refusal()`` names a reason (the DC drains, or its read model is still catching up:
    503, so clients go to another DC), and rejects request bodies over ``limit`` bytes with 413
    before the app reads them whole."""

    def __init__(self, app: ASGIApp, limit: int, refusal: Callable[[], FirebreakError | None]) -> None:
        self._app = app
        self._limit = limit
        self._refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if scope["path"].startswith("/v1/"):
            refused = self._refusal()
            if refused is not None:
                await error_response(refused.status, refused.code, refused.message)(scope, receive, send)
                return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self._limit:
                await error_response(
                    413, "body_too_large", f"request bodies are at most {self._limit} bytes"
                )(scope, receive, send)
                return
        seen = 0
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            # Server-Timing: how long the gateway spent on the request (clients and benches compare
            # it with what they observe, to tell network and client time from server time).
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"server-timing", f"app;dur={took:.2f}".encode()),
                    ],
                }
            await send(message)

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self._limit:
                raise FirebreakError(
                    f"request bodies are at most {self._limit} bytes", code="body_too_large", status=413
                )
            return message

        await self._app(scope, limited, timed_send)


def install(app: FastAPI, *, extra_operations: dict[str, dict[str, Any]] | None = None) -> None:
    """Error rendering and the OpenAPI document for ``app``: its routes, the msgspec views'
    schemas, and ``extra_operations`` ({path: {method: operation}}) for endpoints answered in
    front of FastAPI (hot.py)."""

    @app.exception_handler(FirebreakError)
    async def _firebreak(_: Request, exc: FirebreakError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, "malformed_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "no_such_endpoint", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        _, components = msgspec.json.schema_components(ALL_VIEWS, ref_template="#/components/schemas/{name}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        schema["components"]["schemas"]["Error"] = {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
        for path, operations in (extra_operations or {}).items():
            schema["paths"].setdefault(path, {}).update(operations)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
