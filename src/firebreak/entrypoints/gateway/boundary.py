"""The HTTP boundary: error rendering, decoding request bodies and the OpenAPI document (the body
limits and refusals are gatekeeper.py's)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from firebreak.domain.validation import check_unicode
from firebreak.entrypoints.gateway import schema as openapi_rules
from firebreak.errors import BadRequest, FirebreakError, Unauthorized
from firebreak.limits import Limits
from firebreak.service.accounts import Accounts
from firebreak.service.auth import TokenClaims
from firebreak.wire.requests import ALL_BODIES
from firebreak.wire.views import ALL_VIEWS

log = logging.getLogger(__name__)

T = TypeVar("T")
B = TypeVar("B", bound=bytes | str)

_encoder = msgspec.json.Encoder()

#: Error statuses for a route's ``responses=`` (the ones its shape implies are added by schema.py).
errors = openapi_rules.error_docs


def reply(view: msgspec.Struct, status: int = 200) -> Response:
    return Response(content=_encoder.encode(view), media_type="application/json", status_code=status)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def internal_error() -> JSONResponse:
    # The exception itself goes to the log, not to the client.
    return error_response(500, "internal_error", "the gateway failed to handle this request; it is logged")


def bearer(authorization: str | None, accounts: Accounts) -> TokenClaims:
    """The claims of an ``Authorization: Bearer <token>`` header (401 if missing or not valid)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("send Authorization: Bearer <token>", code="missing_token")
    return accounts.authenticate(authorization.removeprefix("Bearer ").strip())


def source(request: Request) -> str:
    """The client's address as the connection shows it (what throttling counts by). Behind a
    proxy this is the proxy's address: X-Forwarded-For is not trusted (docs/SECURITY.md)."""
    return request.client.host if request.client is not None else ""


def doc(view: type[msgspec.Struct], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entry for a msgspec view (its schema is added by :func:`install`)."""
    ref = {"$ref": f"#/components/schemas/{view.__name__}"}
    return {
        status: {
            "description": view.__doc__ or view.__name__,
            "content": {"application/json": {"schema": ref}},
        }
    }


# ---- request bodies (msgspec: wire/requests.py) ---------------------------------------------


def _undecodable(body: bytes | str, exc: msgspec.DecodeError, what: str) -> BadRequest:
    """Why msgspec refused a body as JSON. It also refuses a lone surrogate escape ("\\ud800"),
    which is JSON but no Unicode text: 400 invalid_unicode, as the domain answers such text
    (domain/validation.py). Only refused bodies pay for the second parse."""
    try:
        check_unicode(json.dumps(json.loads(body), ensure_ascii=False), f"the {what}")
    except BadRequest as refused:
        return refused
    except (ValueError, RecursionError):
        pass
    return BadRequest(f"{what}: not valid JSON ({exc})", code="malformed_request")


def decode_body(decode: Callable[[B], T], body: B, what: str = "body") -> T:
    """``decode(body)``, or the 400 every route, lane and socket command answers for a body (or
    command frame: ``what``) it cannot take."""
    try:
        return decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"{what}: {exc}", code="malformed_request") from exc
    except msgspec.DecodeError as exc:
        raise _undecodable(body, exc, what) from exc


class JsonBody:
    """A FastAPI dependency that decodes a route's JSON body into ``struct`` with msgspec: the
    same types the client builds and the plain-ASGI lanes decode. A refused body is a 400
    (``malformed_request``); :func:`install` documents ``struct`` as the route's request body."""

    def __init__(self, struct: type[msgspec.Struct], *, optional: bool = False) -> None:
        self.struct = struct
        #: An empty body is the struct's defaults (every field of ``struct`` has one).
        self.optional = optional
        self._decoder = msgspec.json.Decoder(struct)

    async def __call__(self, request: Request) -> Any:
        body = await request.body()
        if self.optional and not body:
            return self.struct()
        try:
            return decode_body(self._decoder.decode, body)
        except BadRequest as refused:
            if refused.code != "invalid_unicode":
                raise
        # JSON whose only fault is a lone surrogate goes on to the domain, whose rule for the
        # field answers (a username holding one is invalid_username; text is invalid_unicode).
        return decode_body(lambda raw: msgspec.convert(json.loads(raw), self.struct), body)


def json_body(struct: type[msgspec.Struct], *, optional: bool = False) -> Any:
    """For a route's parameter: ``body: Annotated[SendBody, json_body(SendBody)]``."""
    return Depends(JsonBody(struct, optional=optional))


def _route_bodies(app: FastAPI) -> dict[tuple[str, str], JsonBody]:
    """{(path, method): its body} of every route that takes a :class:`JsonBody`."""
    out: dict[tuple[str, str], JsonBody] = {}
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for dependency in route.dependant.dependencies:
            if isinstance(dependency.call, JsonBody):
                for method in route.methods or ():
                    out[(route.path_format, method.lower())] = dependency.call
    return out


# ---- wiring into FastAPI --------------------------------------------------------------------


def install(
    app: FastAPI,
    limits: Limits | None = None,
    *,
    extra_operations: dict[str, dict[str, Any]] | None = None,
    refused: Callable[[str], None] = lambda code: None,
) -> None:
    """Error rendering and the OpenAPI document for ``app``: its routes, the msgspec views'
    schemas, and ``extra_operations`` ({path: {method: operation}}) for endpoints answered in
    front of FastAPI (hot.py); ``limits`` are documented in the request schemas (schema.py).
    ``refused`` hears the code of each 429 (the rate-limit metric, docs/OPERATIONS.md)."""
    extra = extra_operations or {}
    # Path templates of the extra operations, so a 405 from FastAPI names their methods too.
    extra_routes = [
        (re.compile(re.sub(r"\{[^/]+\}", "[^/]+", path)), {m.upper() for m in ops})
        for path, ops in extra.items()
    ]

    def allowed_methods(path: str) -> str:
        """Every method some route takes at ``path`` (Starlette's 405 names only the first route's)."""
        allowed: set[str] = set()
        for route in app.routes:
            regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
            if regex is not None and methods and regex.match(path):
                allowed |= methods
        for pattern, methods in extra_routes:
            if pattern.fullmatch(path):
                allowed |= methods
        return ", ".join(sorted(allowed))

    @app.exception_handler(FirebreakError)
    async def _firebreak(_: Request, exc: FirebreakError) -> JSONResponse:
        if exc.status == 429:
            refused(exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.headers())

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, "malformed_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "malformed_request", 404: "no_such_endpoint", 405: "method_not_allowed"}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers = {"Allow": allowed_methods(request.url.path)}
        return error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), headers
        )

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after answering; the Gatekeeper logs it.
        return internal_error()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        bodies = _route_bodies(app)
        taken = {b.struct for b in bodies.values()}
        structs = (*ALL_VIEWS, *ALL_BODIES, *(taken - set(ALL_BODIES)))
        _, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        for (path, method), body in bodies.items():
            ref = {"$ref": f"#/components/schemas/{body.struct.__name__}"}
            schema["paths"][path][method]["requestBody"] = {
                "required": not body.optional,
                "content": {"application/json": {"schema": ref}},
            }
        for path, operations in extra.items():
            schema["paths"].setdefault(path, {}).update(operations)
        openapi_rules.rewrite(schema, limits or Limits())
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
