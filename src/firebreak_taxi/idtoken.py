"""Checking an ID token from the provider (OpenID Connect Core 3.1.3.7) with joserfc: the signature
against the provider's JWKS (asymmetric algorithms only, never ``none``), then iss, aud, exp, iat,
sub and the nonce this site sent."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

#: What the site accepts: the provider signs with RS256 or ES256; ``none`` and HMAC never pass.
ALGORITHMS = ("RS256", "ES256")
#: Clock difference tolerated between the site and the provider.
LEEWAY_S = 30


class BadIdToken(Exception):
    """The ID token is not one this site may trust."""


class UnknownKey(BadIdToken):
    """Signed by a key the site's copy of the JWKS does not have (yet): fetch the JWKS again."""


def verify_id_token(
    raw: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str | None,
    sub: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of ``raw`` once every check passed. ``nonce`` None (a refresh) accepts a token
    without one; ``sub`` (a refresh) must match the signed-in user."""
    try:
        token = jwt.decode(raw, keys, algorithms=list(ALGORITHMS))
    except InvalidKeyIdError as exc:
        raise UnknownKey(str(exc)) from exc
    except (JoseError, ValueError) as exc:
        raise BadIdToken(f"signature or format: {exc}") from exc
    claims: dict[str, Any] = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        now=int(now if now is not None else time.time()),
        leeway=LEEWAY_S,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True, **({"value": sub} if sub is not None else {})},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise BadIdToken(f"claims: {exc}") from exc
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise BadIdToken("several audiences and azp is not this site")
    if nonce is not None and claims.get("nonce") != nonce:
        raise BadIdToken("nonce is not the one this sign-in sent")
    return claims


def key_id(raw: str) -> str:
    """The id of the key that signed ``raw`` (a token already verified), shown on the page."""
    try:
        return str(extract_compact(raw.encode()).headers().get("kid", ""))
    except (JoseError, ValueError):
        return ""
