"""The taxi site's HTTP routes (Starlette)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from firebreak_taxi import pages
from firebreak_taxi.accounts import Accounts, SignInFailed
from firebreak_taxi.provider import Provider, ProviderDown
from firebreak_taxi.settings import TaxiSettings
from firebreak_taxi.store import TaxiStore

SESSION_COOKIE = "taxi_session"
#: Binds a sign-in's state to the browser that started it (no one else's callback signs it in).
LOGIN_COOKIE = "taxi_login"
#: Longest pickup or destination kept.
PLACE_MAX = 200


def build_app(settings: TaxiSettings, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    store = TaxiStore(settings.database)
    accounts = Accounts(settings, store, Provider(settings, transport))
    secure = settings.public_url.startswith("https:")

    def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
        # Lax: sent on the provider's redirect back (a top-level GET), not on other sites' POSTs.
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure)

    async def home(request: Request) -> Response:
        user = await accounts.current(request.cookies.get(SESSION_COOKIE))
        if user is None:
            response: Response = HTMLResponse(pages.signed_out())
            if SESSION_COOKIE in request.cookies:
                response.delete_cookie(SESSION_COOKIE)
            return response
        return HTMLResponse(pages.home(user, store.rides(user.sub)))

    async def login(request: Request) -> Response:
        try:
            url = await accounts.start()
        except ProviderDown:
            return HTMLResponse(pages.error("Firebreak cannot be reached right now. Please try again."), 503)
        response = RedirectResponse(url, status_code=303)
        state = parse_qs(httpx.URL(url).query.decode()).get("state", [""])[0]
        set_cookie(response, LOGIN_COOKIE, state, max_age=int(settings.login_within_s))
        return response

    async def callback(request: Request) -> Response:
        state = request.query_params.get("state", "")
        try:
            if not state or request.cookies.get(LOGIN_COOKIE) != state:
                raise SignInFailed("This sign-in was started in another browser. Please try again.")
            cookie = await accounts.finish(
                state=state, code=request.query_params.get("code"), error=request.query_params.get("error")
            )
        except SignInFailed as exc:
            return HTMLResponse(pages.error(str(exc)), 400)
        response = RedirectResponse("/", status_code=303)
        set_cookie(response, SESSION_COOKIE, cookie)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    async def call_taxi(request: Request) -> Response:
        user = await accounts.current(request.cookies.get(SESSION_COOKIE))
        if user is None:
            return RedirectResponse("/", status_code=303)
        form = parse_qs((await request.body()).decode(errors="replace"))
        pickup = form.get("pickup", [""])[0].strip()[:PLACE_MAX]
        destination = form.get("destination", [""])[0].strip()[:PLACE_MAX]
        if pickup and destination:
            store.add_ride(user.sub, pickup, destination)
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        url = await accounts.sign_out(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(url or "/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def healthz(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", login),
            Route("/callback", callback),
            Route("/rides", call_taxi, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
