"""A stand-in OpenID Connect provider with two DCs, for the taxi site's tests without a cluster
(tests/test_taxi_site.py): an httpx transport that answers discovery, JWKS, token (code with PKCE
S256, refresh with rotation) and userinfo at either DC's address, and can make a DC unreachable."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

ISSUER = "https://login.firebreak.test"
DCS = ("http://dc-a.test", "http://dc-b.test")
CLIENT_ID = "taxi"
CLIENT_SECRET = "taxi secret"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Grant:
    sub: str
    nonce: str
    challenge: str
    redirect_uri: str


@dataclass
class FakeProvider:
    access_ttl_s: float = 300.0
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    old_keys: list[RSAKey] = field(default_factory=list)
    down: set[str] = field(default_factory=set)
    codes: dict[str, Grant] = field(default_factory=dict)
    #: refresh token -> sub, for the live ones; a rotated one is moved to ``used``.
    refresh: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    access: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    #: What the next token answer's ID token becomes, for the negative tests.
    id_token_override: str | None = None
    #: The next this many token requests are answered 503 (DCs electing leaders after a fire).
    unavailable_token_calls: int = 0
    #: The DC host of each token request, in order.
    token_calls: list[str] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._answer)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        # A network round trip: other requests of the site run meanwhile.
        await asyncio.sleep(0.01)
        return self._handle(request)

    def rotate_key(self) -> None:
        self.old_keys.append(self.key)
        self.key = RSAKey.generate_key(2048, parameters={"kid": f"k{len(self.old_keys) + 1}"})

    def authorize(self, authorize_url: str, sub: str, name: str) -> str:
        """What the provider's sign-in and consent pages do: a code for the site's callback."""
        q = {k: v[0] for k, v in parse_qs(httpx.URL(authorize_url).query.decode()).items()}
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
        assert q["code_challenge_method"] == "S256" and "openid" in q["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = Grant(sub, q["nonce"], q["code_challenge"], q["redirect_uri"])
        self.names[sub] = name
        return f"{q['redirect_uri']}?code={code}&state={q['state']}"

    def id_token(self, sub: str, nonce: str | None, **extra: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "aud": CLIENT_ID, "sub": sub, "iat": now, "exp": now + 300}
        if nonce:
            claims["nonce"] = nonce
        claims.update(extra)
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)

    def _tokens(self, sub: str, nonce: str | None) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access[access] = sub
        self.refresh[refresh] = sub
        id_token = self.id_token(sub, nonce)
        if self.id_token_override is not None:
            id_token, self.id_token_override = self.id_token_override, None
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
            "refresh_token": refresh,
            "id_token": id_token,
        }

    def _handle(self, request: httpx.Request) -> httpx.Response:
        host = f"{request.url.scheme}://{request.url.host}"
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": ISSUER + "/oidc/authorize",
                    "token_endpoint": ISSUER + "/oidc/token",
                    "userinfo_endpoint": ISSUER + "/oidc/userinfo",
                    "jwks_uri": ISSUER + "/oidc/jwks",
                    "end_session_endpoint": ISSUER + "/oidc/logout",
                },
            )
        if path == "/oidc/jwks":
            return httpx.Response(200, json=KeySet([self.key, *self.old_keys]).as_dict(private=False))
        if path == "/oidc/token":
            self.token_calls.append(host)
            if self.unavailable_token_calls > 0:
                self.unavailable_token_calls -= 1
                return httpx.Response(503, json={"error": "temporarily_unavailable"})
            return self._token(request)
        if path == "/oidc/userinfo":
            sub = self.access.get(request.headers.get("authorization", "").removeprefix("Bearer "))
            if sub is None:
                return httpx.Response(401, json={"error": "invalid_token"})
            return httpx.Response(200, json={"sub": sub, "name": self.names[sub]})
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if _basic(request) != (CLIENT_ID, CLIENT_SECRET):
            return httpx.Response(401, json={"error": "invalid_client"})
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if grant is None or b64(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
                return httpx.Response(400, json={"error": "invalid_grant"})
            if form.get("redirect_uri") != grant.redirect_uri:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json=self._tokens(grant.sub, grant.nonce))
        if form.get("grant_type") == "refresh_token":
            token = form.get("refresh_token", "")
            sub = self.refresh.pop(token, None)
            if sub is None:
                return httpx.Response(400, json={"error": "invalid_grant"})
            self.used.add(token)
            return httpx.Response(200, json=self._tokens(sub, None))
        return httpx.Response(400, json={"error": "unsupported_grant_type"})


def _basic(request: httpx.Request) -> tuple[str, str] | None:
    """The client id and secret of an HTTP Basic header (each form-encoded: RFC 6749 2.3.1)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme != "Basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return unquote_plus(user), unquote_plus(password)


def unsigned(claims: dict[str, Any]) -> str:
    """A token with ``alg: none``: no signature at all."""
    header = b64(json.dumps({"alg": "none"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."
