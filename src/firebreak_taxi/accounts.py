"""The site's sign-in logic: starting and finishing a sign-in, keeping a session's tokens fresh,
and signing out. Everything the provider says is checked (state, nonce, the ID token)."""

from __future__ import annotations

import asyncio
import secrets
import time
import weakref
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError

from firebreak_taxi.idtoken import BadIdToken, key_id
from firebreak_taxi.provider import Provider, ProviderDown
from firebreak_taxi.settings import TaxiSettings
from firebreak_taxi.store import Session, TaxiStore


class SignInFailed(Exception):
    """The sign-in cannot finish; the message says why, for the person."""


@dataclass(frozen=True)
class SignedIn:
    sub: str
    name: str
    #: The DC address the site talked to for this page.
    dc: str
    refreshes: int
    expires_at: float
    #: The id of the key that signed the session's latest ID token.
    key_id: str = ""
    #: Set when Firebreak could not be reached and the page shows what the site remembers.
    notice: str = ""


def _name(claims: dict[str, Any]) -> str:
    for key in ("name", "preferred_username", "nickname"):
        value = claims.get(key)
        if isinstance(value, str) and value:
            return value
    return str(claims["sub"])


def _expires_at(token: dict[str, Any]) -> float:
    if token.get("expires_at"):
        return float(token["expires_at"])
    return time.time() + float(token.get("expires_in") or 300)


class Accounts:
    def __init__(self, settings: TaxiSettings, store: TaxiStore, provider: Provider) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        #: One refresh at a time per session: two would present the same refresh token, and the
        #: provider revokes the whole family when a rotated token comes back.
        #: Weak: a lock lives while a refresh holds or waits for it, not for every session ever seen.
        self._refreshing: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(self) -> str:
        """A new sign-in: its state, nonce and PKCE verifier are kept here; returns where to go."""
        self.store.forget_logins_before(time.time() - self.settings.login_within_s)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters: RFC 7636 asks for 43 to 128
        self.store.begin_login(state, nonce, verifier)
        return await self.provider.authorization_url(state=state, nonce=nonce, verifier=verifier)

    async def finish(self, *, state: str, code: str | None, error: str | None) -> str:
        """The provider's answer: returns the new session's cookie value."""
        pending = self.store.take_login(state) if state else None
        if pending is None:
            raise SignInFailed("This sign-in was not started here or was already used. Please try again.")
        if time.time() - pending.created_at > self.settings.login_within_s:
            raise SignInFailed("The sign-in took too long. Please try again.")
        if error or not code:
            raise SignInFailed(f"Firebreak did not sign you in ({error or 'no code'}).")
        try:
            token, dc = await self._exchange(code, pending.verifier)
            claims = await self.provider.verify(str(token.get("id_token", "")), nonce=pending.nonce)
        except OAuthError as exc:
            raise SignInFailed(f"Firebreak refused the sign-in ({exc.error}).") from exc
        except BadIdToken as exc:
            raise SignInFailed("Firebreak's answer could not be verified.") from exc
        except ProviderDown as exc:
            raise SignInFailed("Firebreak cannot be reached right now. Please try again.") from exc
        sub = str(claims["sub"])
        self.store.saw_user(sub, _name(claims))
        cookie = secrets.token_urlsafe(32)
        session = Session(
            sub=sub,
            access_token=str(token["access_token"]),
            refresh_token=token.get("refresh_token"),
            id_token=str(token["id_token"]),
            expires_at=_expires_at(token),
            dc=dc,
            refreshes=0,
        )
        self.store.put_session(cookie, session)
        return cookie

    async def _exchange(self, code: str, verifier: str) -> tuple[dict[str, Any], str]:
        """The code for tokens, tried again while no DC can answer: the person waits on the
        callback a little longer rather than starting over."""
        end = time.monotonic() + self.settings.exchange_within_s
        while True:
            try:
                return await self.provider.exchange(code, verifier)
            except ProviderDown:
                if time.monotonic() > end:
                    raise
            await asyncio.sleep(0.5)

    async def _fresh(self, cookie: str, session: Session) -> Session | None:
        """The session with an access token that is not about to expire; None once the provider
        no longer accepts its refresh token (the person must sign in again)."""
        if session.expires_at - time.time() > self.settings.refresh_margin_s:
            return session
        lock = self._refreshing.get(cookie)
        if lock is None:
            lock = self._refreshing[cookie] = asyncio.Lock()
        async with lock:
            current = self.store.session(cookie)
            if current is None or current.expires_at - time.time() > self.settings.refresh_margin_s:
                return current  # another request refreshed it meanwhile
            if not current.refresh_token:
                self.store.drop_session(cookie)
                return None
            try:
                token, dc = await self.provider.refresh(current.refresh_token)
                id_token = token.get("id_token")
                if id_token:
                    await self.provider.verify(str(id_token), nonce=None, sub=current.sub)
            except (OAuthError, BadIdToken):
                self.store.drop_session(cookie)
                return None
            renewed = Session(
                sub=current.sub,
                access_token=str(token["access_token"]),
                refresh_token=token.get("refresh_token") or current.refresh_token,
                id_token=str(id_token or current.id_token),
                expires_at=_expires_at(token),
                dc=dc,
                refreshes=current.refreshes + 1,
            )
            self.store.put_session(cookie, renewed)
            return renewed

    async def current(self, cookie: str | None) -> SignedIn | None:
        """Who the cookie signs in, as Firebreak says now (userinfo with the session's access token,
        refreshed first when near expiry); None when signed out."""
        session = self.store.session(cookie) if cookie else None
        if cookie is None or session is None:
            return None
        remembered = self.store.user_name(session.sub) or session.sub
        try:
            fresh = await self._fresh(cookie, session)
            if fresh is None:
                return None
            info, dc = await self.provider.userinfo(fresh.access_token)
        except ProviderDown:
            return SignedIn(
                session.sub,
                remembered,
                session.dc,
                session.refreshes,
                session.expires_at,
                key_id(session.id_token),
                notice="Firebreak cannot be reached right now; showing what this site remembers.",
            )
        except httpx.HTTPStatusError:
            # The provider no longer accepts the access token (revoked, signed out elsewhere).
            self.store.drop_session(cookie)
            return None
        if info.get("sub") != fresh.sub:
            self.store.drop_session(cookie)
            return None
        name = _name(info)
        self.store.saw_user(fresh.sub, name)
        return SignedIn(fresh.sub, name, dc, fresh.refreshes, fresh.expires_at, key_id(fresh.id_token))

    async def sign_out(self, cookie: str | None) -> str | None:
        """Ends the site's session; returns the provider's logout address to send the browser to."""
        session = self.store.session(cookie) if cookie else None
        if cookie is None or session is None:
            return None
        self.store.drop_session(cookie)
        try:
            return await self.provider.end_session_url(session.id_token)
        except ProviderDown:
            return None
