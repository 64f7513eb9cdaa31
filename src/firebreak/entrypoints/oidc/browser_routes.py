"""The provider's endpoints a person's browser visits: the authorization endpoint with its
sign-in and consent pages, and RP-initiated logout (docs/LOGIN.md). The browser's sign-in at the
provider is a messenger session (the same accounts, passwords, throttling and session list) whose
token is kept in an HttpOnly cookie."""

import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from firebreak.config import Config
from firebreak.domain.oidc import covers
from firebreak.entrypoints.gateway import boundary
from firebreak.entrypoints.oidc import pages
from firebreak.entrypoints.oidc.forms import NO_STORE, form_of, with_query
from firebreak.errors import FirebreakError
from firebreak.service.accounts import Accounts
from firebreak.service.auth import TokenClaims
from firebreak.service.oidc_grants import AuthRequest, NotRedirectable, RedirectError
from firebreak.service.oidc_provider import OidcProvider

COOKIE = "fb_login"
#: Login CSRF: the sign-in form carries the value of this cookie, which only a page of the
#: provider's own origin gets (SameSite=Strict), so another site cannot post its own credentials
#: into a visitor's browser and sign them in as someone else.
SIGN_IN_COOKIE = "fb_signin"


def consent_check(token: str) -> str:
    """Ties a consent form to the browser's session: a page of another site cannot compute it."""
    return hashlib.sha256(f"consent:{token}".encode()).hexdigest()[:32]


def add_browser_routes(app: FastAPI, provider: OidcProvider, accounts: Accounts, config: Config) -> None:
    grants = provider.grants
    secure = config.issuer.startswith("https://")

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

    def sign_in_page(
        request: Request, site: str, raw: str, error: str | None = None, username: str = "", status: int = 200
    ) -> Response:
        check = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
        answer = page(pages.sign_in(site, raw, check, error, username), status)
        answer.set_cookie(
            SIGN_IN_COOKIE,
            check,
            max_age=3600,
            path="/oauth",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
        return answer

    def from_this_site(request: Request, form: dict[str, str]) -> bool:
        cookie, sent = request.cookies.get(SIGN_IN_COOKIE, ""), form.get("check", "")
        return bool(cookie) and hmac.compare_digest(cookie, sent)

    async def authorized(
        req: AuthRequest, raw: str, token: str, claims: TokenClaims, status: int = 302
    ) -> Response:
        """The user is signed in: a code if the site has their consent, else the consent page."""
        consent = await grants.consent(claims.user_id, req.client.client_id)
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
            return sign_in_page(request, req.client.name, raw)

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
            if not from_this_site(request, form):
                why = "This sign-in form was not opened here, or it expired: sign in again."
                return sign_in_page(request, req.client.name, raw, why, username, status=400)
            try:
                session = await accounts.login(
                    username,
                    form.get("password", ""),
                    boundary.source(request),
                    f"sign-in for {req.client.name}: {request.headers.get('user-agent', '')}",
                )
            except FirebreakError as exc:
                status = exc.status if exc.status in (429, 503) else 401
                return sign_in_page(request, req.client.name, raw, exc.message, username, status)
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
                return sign_in_page(request, req.client.name, raw, "Sign in again to continue.", status=401)
            claims = session[1]
            if form.get("decision") != "allow":
                return redirect(req.redirect_uri, {"error": "access_denied", "state": req.state}, 303)
            given = await grants.grant(claims.user_id, req.client.client_id, req.scopes)
            code = await grants.issue_code(req, claims.user_id, claims.issued_at // 1000, given)
            return redirect(req.redirect_uri, {"code": code, "state": req.state}, 303)

        return await guarded(step)

    # ---- token, userinfo, revocation, introspection ------------------------------------------

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
