"""OpenID Connect provider rules, free of I/O: the records kept in the replicated KV bucket, PKCE,
redirect URIs, scopes, token formats and expiry (docs/LOGIN.md).

Records are msgspec structs stored as JSON in ``FB_OIDC``; times are seconds since the epoch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

import msgspec

#: Scopes the provider knows; ``openid`` is required in every authorization request.
SCOPES = ("openid", "profile")
#: What the consent page says each scope shows the site.
SCOPE_WORDS = {"openid": "your user id", "profile": "your display name and username"}
#: RFC 7636: a verifier is 43-128 characters of ALPHA / DIGIT / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
#: Client ids chosen by operators: they go into KV keys and URLs.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: Signing algorithms a client may ask its ID tokens in.
ALGORITHMS = ("RS256", "ES256")
REFRESH_PREFIX = "frt1"


class OidcClient(msgspec.Struct, frozen=True):
    """A relying party registered by an operator."""

    client_id: str
    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = []
    #: sha256 hex of the secret (a 256-bit random secret needs no slow hash); "" for public clients.
    secret_sha256: str = ""
    id_token_alg: str = "RS256"
    created_at: int = 0

    @property
    def public(self) -> bool:
        return not self.secret_sha256


class CodeGrant(msgspec.Struct, frozen=True):
    """What an authorization code stands for, stored under the code's hash."""

    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    nonce: str | None
    auth_time: int
    expires_at: int
    consent_gen: int


class Redemption(msgspec.Struct, frozen=True):
    """The one redemption of a code (KV ``create``: one winner across every DC). ``request`` tells
    a retry whose acknowledgement was lost from another redeemer."""

    request: str
    family_id: str


class Family(msgspec.Struct, frozen=True):
    """A refresh-token family: the tokens descending from one code. Only its newest token
    refreshes; any other token of the family presented again revokes the whole family."""

    family_id: str
    client_id: str = ""
    user_id: str = ""
    scope: str = ""
    auth_time: int = 0
    consent_gen: int = 0
    current_sha256: str = ""
    generation: int = 0
    expires_at: int = 0
    #: The request that wrote this version (a retry after a lost acknowledgement recognises itself).
    request: str = ""
    revoked: bool = False


class Consent(msgspec.Struct, frozen=True):
    """A user's consent to one site. Revoking it bumps ``gen``: families issued under an older
    generation stop refreshing and their access tokens stop being active."""

    user_id: str
    client_id: str
    scope: str
    gen: int
    granted: bool
    at: int


class SigningKey(msgspec.Struct, frozen=True):
    kid: str
    alg: str
    #: The private JWK (never served; JWKS serves the public part).
    jwk: dict[str, str]
    created_at: int
    #: Signs from this time on (published in JWKS from ``created_at``: before it signs).
    signs_from: int
    #: Stops signing at this time (0: still current); dropped from JWKS once nothing it signed is valid.
    retired_at: int = 0


class KeyRing(msgspec.Struct, frozen=True):
    keys: list[SigningKey]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_matches(client: OidcClient, secret: str) -> bool:
    return bool(client.secret_sha256) and hmac.compare_digest(client.secret_sha256, sha256_hex(secret))


def check_client_id(client_id: str) -> bool:
    return bool(_CLIENT_ID.fullmatch(client_id))


def check_redirect_uri(uri: str) -> bool:
    """A registrable redirect URI: absolute http(s), no fragment (RFC 6749 3.1.2); plain http only
    for loopback hosts (a site in development)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.fragment or not parts.netloc or parts.scheme not in ("http", "https"):
        return False
    return parts.scheme == "https" or parts.hostname in ("localhost", "127.0.0.1", "::1")


def pkce_ok(verifier: str | None, challenge: str) -> bool:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) equals the challenge."""
    if not verifier or not _VERIFIER.fullmatch(verifier):
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(digest, challenge)


def challenge_ok(challenge: str | None, method: str | None) -> bool:
    return bool(challenge) and method == "S256" and bool(_CHALLENGE.fullmatch(challenge or ""))


def parse_scope(scope: str | None) -> list[str] | None:
    """The requested scopes that the provider knows, in a stable order; None without ``openid``."""
    asked = set((scope or "").split())
    if "openid" not in asked:
        return None
    return [s for s in SCOPES if s in asked]


def covers(consent: Consent | None, scopes: list[str]) -> bool:
    return consent is not None and consent.granted and set(scopes) <= set(consent.scope.split())


def new_refresh_token(family_id: str) -> str:
    return f"{REFRESH_PREFIX}.{family_id}.{secrets.token_urlsafe(32)}"


def family_of(refresh_token: str) -> str | None:
    parts = refresh_token.split(".")
    if len(parts) != 3 or parts[0] != REFRESH_PREFIX or not _CLIENT_ID.fullmatch(parts[1]):
        return None
    return parts[1]


def signing_key(ring: KeyRing, alg: str, now: int) -> SigningKey | None:
    """The key that signs ``alg`` tokens now: the newest one whose time has come."""
    usable = [
        k
        for k in ring.keys
        if k.alg == alg and k.signs_from <= now and (not k.retired_at or k.retired_at > now)
    ]
    return max(usable, key=lambda k: k.signs_from, default=None)


def published(ring: KeyRing, now: int, max_token_s: int) -> list[SigningKey]:
    """The keys JWKS serves: every key not retired long enough for all it signed to have expired."""
    return [k for k in ring.keys if not k.retired_at or k.retired_at + max_token_s > now]


def rotated(ring: KeyRing, alg: str, new: SigningKey, max_token_s: int) -> KeyRing:
    """``ring`` with ``new`` added for ``alg``: the current key of ``alg`` retires when ``new``
    starts signing; keys whose tokens have all expired are dropped."""
    keys = []
    for k in ring.keys:
        if k.alg == alg and not k.retired_at:
            k = msgspec.structs.replace(k, retired_at=new.signs_from)
        if k.retired_at and k.retired_at + max_token_s <= new.created_at:
            continue
        keys.append(k)
    return KeyRing(keys=[*keys, new])
