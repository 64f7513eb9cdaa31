"""The OpenID Connect endpoints of every gateway (docs/LOGIN.md) that sites call: discovery, JWKS,
token, userinfo, revocation and introspection; the ones a browser visits are in browser_routes.py.

They speak the protocols' own forms (form-encoded requests, OAuth JSON errors, HTML pages), so they
are left out of the OpenAPI document (docs/DECISIONS.md).
"""

import base64
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from firebreak.config import Config, DCConfig
from firebreak.entrypoints.oidc.browser_routes import add_browser_routes
from firebreak.entrypoints.oidc.forms import NO_STORE, form_of
from firebreak.errors import FirebreakError, OAuthError
from firebreak.service.accounts import Accounts
from firebreak.service.oidc_provider import OidcProvider


def oauth_error(exc: FirebreakError) -> JSONResponse:
    """RFC 6749 5.2's error form; 503s and the like keep their status and Retry-After."""
    code = exc.code if isinstance(exc, OAuthError) else "temporarily_unavailable"
    if exc.status < 500 and not isinstance(exc, OAuthError):
        code = "invalid_request"
    headers = {**NO_STORE, **(exc.headers() or {})}
    if exc.status == 401:
        headers["www-authenticate"] = 'Basic realm="firebreak"'
    return JSONResponse({"error": code, "error_description": exc.message}, exc.status, headers)


def add_oidc_routes(
    app: FastAPI, provider: OidcProvider, accounts: Accounts, config: Config, dc: DCConfig
) -> None:
    tokens = provider.tokens
    add_browser_routes(app, provider, accounts, config)

    def base(request: Request) -> str:
        """Endpoints are named at the issuer when the request came through the issuer's name, else
        at this DC's own address (a local cluster: each DC is its own origin; docs/LOGIN.md)."""
        if request.headers.get("host", "") == urlsplit(config.issuer).netloc:
            return config.issuer
        return dc.http_url

    @app.get("/.well-known/openid-configuration", include_in_schema=False)
    async def discovery(request: Request) -> JSONResponse:
        at = base(request)
        return JSONResponse(
            {
                "issuer": config.issuer,
                "authorization_endpoint": f"{at}/oauth/authorize",
                "token_endpoint": f"{at}/oauth/token",
                "userinfo_endpoint": f"{at}/oauth/userinfo",
                "jwks_uri": f"{at}/oauth/jwks",
                "revocation_endpoint": f"{at}/oauth/revoke",
                "introspection_endpoint": f"{at}/oauth/introspect",
                "end_session_endpoint": f"{at}/oauth/logout",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "scopes_supported": ["openid", "profile"],
                "claims_supported": [
                    "iss",
                    "sub",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "nonce",
                    "name",
                    "preferred_username",
                ],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "code_challenge_methods_supported": ["S256"],
                "prompt_values_supported": ["none", "login", "consent"],
            },
            headers={"cache-control": "public, max-age=300"},
        )

    @app.get("/oauth/jwks", include_in_schema=False)
    async def jwks() -> JSONResponse:
        return JSONResponse(await provider.keys.jwks(), headers={"cache-control": "public, max-age=60"})

    # ---- the authorization endpoint -----------------------------------------------------------

    def credentials(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
        """client_secret_basic (RFC 6749 2.3.1: form-encoded id and secret) or client_secret_post."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise OAuthError("malformed Basic credentials", code="invalid_client", status=401) from exc
            return unquote(cid.replace("+", " ")), unquote(secret.replace("+", " "))
        return form.get("client_id", ""), form.get("client_secret")

    async def oauth(answer: Callable[[], Awaitable[dict[str, Any]]]) -> JSONResponse:
        try:
            return JSONResponse(await answer(), headers=NO_STORE)
        except FirebreakError as exc:
            return oauth_error(exc)

    @app.post("/oauth/token", include_in_schema=False)
    async def token(request: Request) -> JSONResponse:
        async def answer() -> dict[str, Any]:
            form = await form_of(request)
            client = await tokens.client(*credentials(request, form))
            grant = form.get("grant_type")
            if grant == "authorization_code":
                got = await tokens.exchange(
                    client, form.get("code", ""), form.get("redirect_uri", ""), form.get("code_verifier")
                )
            elif grant == "refresh_token":
                got = await tokens.refresh(client, form.get("refresh_token", ""))
            else:
                raise OAuthError(
                    "grant_type: authorization_code or refresh_token", code="unsupported_grant_type"
                )
            return {
                "access_token": got.access_token,
                "token_type": got.token_type,
                "expires_in": got.expires_in,
                "refresh_token": got.refresh_token,
                "id_token": got.id_token,
                "scope": got.scope,
            }

        return await oauth(answer)

    @app.api_route("/oauth/userinfo", methods=["GET", "POST"], include_in_schema=False)
    async def userinfo(request: Request) -> JSONResponse:
        async def answer() -> dict[str, Any]:
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                raise OAuthError(
                    "send Authorization: Bearer <access token>", code="invalid_token", status=401
                )
            return await tokens.userinfo(header[7:].strip())

        return await oauth(answer)

    @app.post("/oauth/revoke", include_in_schema=False)
    async def revoke(request: Request) -> JSONResponse:
        async def answer() -> dict[str, Any]:
            form = await form_of(request)
            client = await tokens.client(*credentials(request, form), confidential=True)
            await tokens.revoke(client, form.get("token", ""))
            return {}

        return await oauth(answer)

    @app.post("/oauth/introspect", include_in_schema=False)
    async def introspect(request: Request) -> JSONResponse:
        async def answer() -> dict[str, Any]:
            form = await form_of(request)
            client = await tokens.client(*credentials(request, form), confidential=True)
            return await tokens.introspect(client, form.get("token", ""))

        return await oauth(answer)

    # ---- RP-initiated logout ------------------------------------------------------------------
