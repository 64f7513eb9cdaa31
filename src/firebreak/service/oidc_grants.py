"""Clients, authorization requests, consents and codes of the OpenID Connect provider.

Every record is in the replicated KV bucket (adapters/oidc_store.py), read at its leader: a client
registered at one DC, a consent given at another and a code issued at a third are all seen at
once everywhere.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TypeVar

import msgspec

from firebreak.adapters.oidc_store import OidcStore, Taken
from firebreak.domain import oidc
from firebreak.errors import BadRequest, Conflict, NotFound, OAuthError
from firebreak.limits import Limits

S = TypeVar("S", bound=msgspec.Struct)
#: A redemption and its code stay this long beyond the code's expiry, so a late replay is still
#: recognised (and revokes what the code gave) instead of looking like an unknown code.
REPLAY_MEMORY_S = 3600


class AuthRequest(msgspec.Struct, frozen=True):
    """A checked authorization request (the parameters the sign-in and consent pages carry on)."""

    client: oidc.OidcClient
    redirect_uri: str
    scopes: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str
    prompt: str


class NotRedirectable(BadRequest):
    """An authorization request whose client or redirect URI is not registered: the error is shown
    to the user, never sent to the URI (RFC 6749 4.1.2.1)."""

    code = "invalid_request"


class RedirectError(OAuthError):
    """An authorization request error that goes back to the site's (registered) redirect URI."""

    def __init__(self, code: str, message: str, redirect_uri: str, state: str | None) -> None:
        super().__init__(message, code=code)
        self.redirect_uri = redirect_uri
        self.state = state


def code_key(code: str) -> str:
    return f"code.{oidc.sha256_hex(code)}"


def consent_key(user_id: str, client_id: str) -> str:
    return f"consent.{user_id}.{client_id}"


class OidcGrants:
    def __init__(self, store: OidcStore, limits: Limits) -> None:
        self._store = store
        self._limits = limits

    # ---- clients ------------------------------------------------------------------------------

    async def register(
        self,
        name: str,
        redirect_uris: list[str],
        *,
        public: bool,
        post_logout_redirect_uris: list[str] | None = None,
        client_id: str | None = None,
        id_token_alg: str = "RS256",
        replace: bool = False,
    ) -> tuple[oidc.OidcClient, str | None]:
        """Registers a client; returns it and its secret (None for a public client: the secret is
        shown once, only its hash is kept)."""
        cid = client_id or f"c_{secrets.token_hex(8)}"
        if not oidc.check_client_id(cid):
            raise BadRequest("client_id: 1-64 of A-Z a-z 0-9 _ -", code="invalid_client_id")
        if not name.strip() or len(name) > 100 or not name.isprintable():
            raise BadRequest("name: 1-100 printable characters", code="invalid_client_name")
        logout_uris = post_logout_redirect_uris or []
        uris = [*redirect_uris, *logout_uris]
        if not redirect_uris or len(uris) > self._limits.oidc_redirect_uris_max:
            raise BadRequest(
                f"1 to {self._limits.oidc_redirect_uris_max} redirect URIs", code="invalid_redirect_uri"
            )
        bad = [u for u in uris if not oidc.check_redirect_uri(u)]
        if bad:
            raise BadRequest(
                f"not an absolute https (or loopback http) URI without fragment: {bad[0]!r}",
                code="invalid_redirect_uri",
            )
        if id_token_alg not in oidc.ALGORITHMS:
            raise BadRequest(f"id_token_alg: one of {', '.join(oidc.ALGORITHMS)}", code="invalid_alg")
        secret = None if public else oidc.new_secret()
        client = oidc.OidcClient(
            client_id=cid,
            name=name.strip(),
            redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=list(logout_uris),
            secret_sha256=oidc.sha256_hex(secret) if secret else "",
            id_token_alg=id_token_alg,
            created_at=int(time.time()),
        )
        if replace:
            await self._store.put(f"client.{cid}", client)
        else:
            try:
                await self._store.write(f"client.{cid}", client, last=0)
            except Taken as exc:
                raise Conflict(f"a client {cid!r} is registered already", code="client_exists") from exc
        return client, secret

    async def client(self, client_id: str) -> oidc.OidcClient | None:
        if not oidc.check_client_id(client_id):
            return None
        found = await self._store.get(f"client.{client_id}", oidc.OidcClient)
        return found[0] if found else None

    # ---- authorization requests ---------------------------------------------------------------

    async def check(self, params: dict[str, str]) -> AuthRequest:
        """An authorization request's parameters, checked in the order RFC 6749 4.1.2.1 asks:
        client and redirect URI first (never redirect to an unregistered URI), then the rest,
        whose errors go back to the site."""
        client = await self.client(params.get("client_id", ""))
        if client is None:
            raise NotRedirectable("unknown client_id", code="invalid_client")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise NotRedirectable("redirect_uri is not registered for this client", code="invalid_request")
        state = params.get("state")

        def refuse(code: str, message: str) -> RedirectError:
            return RedirectError(code, message, redirect_uri, state)

        if params.get("response_type") != "code":
            raise refuse("unsupported_response_type", "only response_type=code is supported")
        scopes = oidc.parse_scope(params.get("scope"))
        if scopes is None:
            raise refuse("invalid_scope", "scope must include openid")
        challenge = params.get("code_challenge")
        if not oidc.challenge_ok(challenge, params.get("code_challenge_method")):
            raise refuse(
                "invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256"
            )
        prompt = params.get("prompt", "")
        if set(prompt.split()) - {"none", "login", "consent"}:
            raise refuse("invalid_request", "prompt: none, login or consent")
        return AuthRequest(
            client=client,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            nonce=params.get("nonce"),
            code_challenge=challenge or "",
            prompt=prompt,
        )

    # ---- consents -----------------------------------------------------------------------------

    async def consent(self, user_id: str, client_id: str) -> oidc.Consent | None:
        found = await self._store.get(consent_key(user_id, client_id), oidc.Consent)
        return found[0] if found else None

    async def _change(self, key: str, kind: type[S], change: Callable[[S | None], S]) -> S:
        """Compare-and-set loop: ``change`` applied to the newest version of ``key``."""
        while True:
            found = await self._store.get(key, kind)
            new = change(found[0] if found else None)
            try:
                await self._store.write(key, new, last=found[1] if found else 0)
                return new
            except Taken:
                continue

    async def grant(self, user_id: str, client_id: str, scopes: list[str]) -> oidc.Consent:
        def change(old: oidc.Consent | None) -> oidc.Consent:
            asked = set(scopes) | (set(old.scope.split()) if old and old.granted else set())
            return oidc.Consent(
                user_id=user_id,
                client_id=client_id,
                scope=" ".join(s for s in oidc.SCOPES if s in asked),
                gen=old.gen if old else 1,
                granted=True,
                at=int(time.time()),
            )

        return await self._change(consent_key(user_id, client_id), oidc.Consent, change)

    async def withdraw(self, user_id: str, client_id: str) -> None:
        """Withdraws a consent: every token the site holds for the user stops working."""
        consent = await self.consent(user_id, client_id)
        if consent is None or not consent.granted:
            raise NotFound("you gave this site no access", code="unknown_site")

        def change(old: oidc.Consent | None) -> oidc.Consent:
            gen = old.gen if old else 0
            return oidc.Consent(user_id, client_id, "", gen + 1, granted=False, at=int(time.time()))

        await self._change(consent_key(user_id, client_id), oidc.Consent, change)

    async def sites(self, user_id: str) -> list[oidc.Consent]:
        found = await self._store.scan(f"consent.{user_id}.", oidc.Consent, self._limits.oidc_sites_list_max)
        return [c for c in found if c.granted]

    # ---- codes --------------------------------------------------------------------------------

    async def issue_code(self, req: AuthRequest, user_id: str, auth_time: int, consent: oidc.Consent) -> str:
        code = secrets.token_urlsafe(32)
        grant = oidc.CodeGrant(
            client_id=req.client.client_id,
            user_id=user_id,
            redirect_uri=req.redirect_uri,
            scope=" ".join(req.scopes),
            code_challenge=req.code_challenge,
            nonce=req.nonce,
            auth_time=auth_time,
            expires_at=int(time.time()) + self._limits.oidc_code_ttl_s,
            consent_gen=consent.gen,
        )
        ttl = self._limits.oidc_code_ttl_s + REPLAY_MEMORY_S
        await self._store.write(code_key(code), grant, last=0, ttl_s=ttl)
        return code
