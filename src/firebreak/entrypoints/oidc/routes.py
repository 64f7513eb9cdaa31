"""The OpenID Connect endpoints of every gateway (docs/LOGIN.md): discovery, JWKS, the
authorization endpoint with its sign-in and consent pages, token, userinfo, revocation,
introspection and RP-initiated logout.

They speak the protocols' own forms (form-encoded requests, OAuth JSON errors, HTML pages), so they
are left out of the OpenAPI document (docs/DECISIONS.md). The browser's sign-in at the provider is
a messenger session (the same accounts, passwords, throttling and session list) whose token is
kept in an HttpOnly cookie.
"""

import base64
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from firebreak.config import Config, DCConfig
from firebreak.entrypoints.gateway import boundary
from firebreak.entrypoints.oidc import pages
from firebreak.errors import FirebreakError, OAuthError
from firebreak.service.accounts import Accounts
from firebreak.service.auth import TokenClaims
from firebreak.service.oidc_grants import AuthRequest, NotRedirectable, RedirectError
from firebreak.service.oidc_provider import OidcProvider

COOKIE = "fb_login"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


async def form_of(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (each name's first value)."""
    body = (await request.body()).decode(errors="replace")
    out: dict[str, str] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        out.setdefault(name, value)
    return out


def oauth_error(exc: FirebreakError) -> JSONResponse:
    """RFC 6749 5.2's error form; 503s and the like keep their status and Retry-After."""
    code = exc.code if isinstance(exc, OAuthError) else "temporarily_unavailable"
    if exc.status < 500 and not isinstance(exc, OAuthError):
        code = "invalid_request"
    headers = {**NO_STORE, **(exc.headers() or {})}
    if exc.status == 401:
        headers["www-authenticate"] = 'Basic realm="firebreak"'
    return JSONResponse({"error": code, "error_description": exc.message}, exc.status, headers)


def with_query(uri: str, params: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{query}"


def consent_check(token: str) -> str:
    """Ties a consent form to the browser's session: a page of another site cannot compute it."""
    return hashlib.sha256(f"consent:{token}".encode()).hexdigest()[:32]


def add_oidc_routes(
    app: FastAPI, provider: OidcProvider, accounts: Accounts, config: Config, dc: DCConfig
) -> None:
    grants, tokens = provider.grants, provider.tokens
    secure = config.issuer.startswith("https://")

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

    def session_of(request: Request) -> tuple[str, TokenClaims] | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            return token, accounts.authenticate(token)
        except FirebreakError:
            return None

    def redirect(uri: str, params: dict[str, str | None], status: int = 302) -> RedirectResponse:
        return RedirectResponse(with_query(uri, params), status_code=status, headers=NO_STORE)

    def page(html: str, status: int = 200) -> HTMLResponse:
        # No framing by other sites (clickjacking of the consent button).
        headers = {**NO_STORE, "x-frame-options": "DENY", "content-security-policy": "frame-ancestors 'none'"}
        return HTMLResponse(html, status, headers=headers)

    async def authorized(
        req: AuthRequest, raw: str, token: str, claims: TokenClaims, status: int = 302
    ) -> Response:
        """The user is signed in: a code if the site has their consent, else the consent page."""
        consent = await grants.consent(claims.user_id, req.client.client_id)
        from firebreak.domain.oidc import covers

        if covers(consent, req.scopes) and "consent" not in req.prompt.split() and consent is not None:
            code = await grants.issue_code(req, claims.user_id, claims.issued_at // 1000, consent)
            return redirect(req.redirect_uri, {"code": code, "state": req.state}, status)
        if "none" in req.prompt.split():
            return redirect(req.redirect_uri, {"error": "consent_required", "state": req.state}, status)
        me = accounts.me(claims.user_id)
        return page(pages.consent(req.client.name, me.username, req.scopes, raw, consent_check(token)))

    async def checked(raw: str) -> AuthRequest | Response:
        try:
            return await grants.check(dict(parse_qsl(raw, keep_blank_values=True)))
        except NotRedirectable as exc:
            return page(pages.error(exc.message), 400)
        except RedirectError as exc:
            return redirect(exc.redirect_uri, {"error": exc.code, "error_description": exc.message,
                                               "state": exc.state})  # fmt: skip

    async def guarded(step: Callable[[], Awaitable[Response]]) -> Response:
        try:
            return await step()
        except FirebreakError as exc:
            return page(pages.error(exc.message), exc.status)

    @app.get("/oauth/authorize", include_in_schema=False)
    async def authorize(request: Request) -> Response:
        raw = request.url.query

        async def step() -> Response:
            req = await checked(raw)
            if isinstance(req, Response):
                return req
            session = session_of(request)
            if session is not None and "login" not in req.prompt.split():
                return await authorized(req, raw, *session)
            if "none" in req.prompt.split():
                return redirect(req.redirect_uri, {"error": "login_required", "state": req.state})
            return page(pages.sign_in(req.client.name, raw))

        return await guarded(step)

    @app.post("/oauth/authorize/login", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        form = await form_of(request)
        raw = form.get("request", "")

        async def step() -> Response:
            req = await checked(raw)
            if isinstance(req, Response):
                return req
            username = form.get("username", "")
            try:
                session = await accounts.login(
                    username,
                    form.get("password", ""),
                    boundary.source(request),
                    f"sign-in for {req.client.name}: {request.headers.get('user-agent', '')}",
                )
            except FirebreakError as exc:
                status = exc.status if exc.status in (429, 503) else 401
                return page(pages.sign_in(req.client.name, raw, exc.message, username), status)
            claims = accounts.authenticate(session.token)
            answer = await authorized(req, raw, session.token, claims, status=303)
            answer.set_cookie(
                COOKIE, session.token, max_age=max(1, session.expires_at - int(time.time())),
                path="/oauth", secure=secure, httponly=True, samesite="lax",
            )  # fmt: skip
            return answer

        return await guarded(step)

    @app.post("/oauth/authorize/consent", include_in_schema=False)
    async def consent(request: Request) -> Response:
        form = await form_of(request)
        raw = form.get("request", "")

        async def step() -> Response:
            req = await checked(raw)
            if isinstance(req, Response):
                return req
            session = session_of(request)
            if session is None or form.get("check") != consent_check(session[0]):
                return page(pages.sign_in(req.client.name, raw, "Sign in again to continue."), 401)
            claims = session[1]
            if form.get("decision") != "allow":
                return redirect(req.redirect_uri, {"error": "access_denied", "state": req.state}, 303)
            given = await grants.grant(claims.user_id, req.client.client_id, req.scopes)
            code = await grants.issue_code(req, claims.user_id, claims.issued_at // 1000, given)
            return redirect(req.redirect_uri, {"code": code, "state": req.state}, 303)

        return await guarded(step)

    # ---- token, userinfo, revocation, introspection ------------------------------------------

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

    @app.get("/oauth/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        params = dict(parse_qsl(request.url.query))
        target = None
        hint, back = params.get("id_token_hint"), params.get("post_logout_redirect_uri")
        if hint and back:
            try:
                _, claims = await provider.keys.verify(hint)
                client = await grants.client(str(claims.get("aud", "")))
            except FirebreakError:
                client = None
            if client is not None and back in client.post_logout_redirect_uris:
                target = with_query(back, {"state": params.get("state")})
        session = session_of(request)
        if session is not None:
            # If the log cannot take it now the cookie goes anyway; the session ends when it expires.
            with contextlib.suppress(FirebreakError):
                await accounts.logout(session[1])
        answer: Response = (
            RedirectResponse(target, 302, headers=NO_STORE) if target else page(pages.signed_out())
        )
        answer.delete_cookie(COOKIE, path="/oauth", secure=secure, httponly=True, samesite="lax")
        return answer
