"""The provider's signing keys (RS256 and ES256): one key ring for the whole cluster, kept in the
replicated KV bucket under ``keys``, made once by whichever gateway comes first (KV ``create``)
and changed only by compare-and-set (a rotation). JOSE is joserfc's; nothing here signs by hand.

A rotation adds a key that JWKS publishes at once but that signs only from ``signs_from`` on
(``oidc_key_publish_s`` later), so relying parties that cache JWKS learn it before they meet a
token it signed; the key it replaces stays in JWKS until every token it signed has expired.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey, import_key

from firebreak.adapters.oidc_store import OidcStore, Taken
from firebreak.domain import oidc
from firebreak.errors import Unauthorized, Unavailable
from firebreak.limits import Limits

RING_KEY = "keys"
#: Seconds a gateway uses the key ring it read before reading it again (a rotation made in another
#: DC is seen within this; a token signed by a key not yet seen makes it read at once).
RING_CACHE_S = 5.0


def new_key(alg: str, now: int, signs_from: int) -> oidc.SigningKey:
    kid = f"{alg.lower()}-{now}-{secrets.token_hex(4)}"
    params: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    key = (
        RSAKey.generate_key(2048, parameters=params)
        if alg == "RS256"
        else ECKey.generate_key("P-256", parameters=params)
    )
    jwk = {k: str(v) for k, v in key.as_dict(private=True).items()}
    return oidc.SigningKey(kid=kid, alg=alg, jwk=jwk, created_at=now, signs_from=signs_from)


class OidcKeys:
    def __init__(self, store: OidcStore, limits: Limits) -> None:
        self._store = store
        self._limits = limits
        self._ring: oidc.KeyRing | None = None
        self._read_at = 0.0
        #: kid -> the imported key. A key never changes under its kid, and importing an RSA
        #: private key checks it at length: once per key, not per token.
        self._imported: dict[str, Any] = {}

    def _key(self, key: oidc.SigningKey) -> Any:
        found = self._imported.get(key.kid)
        if found is None:
            found = self._imported[key.kid] = import_key(dict(key.jwk))
        return found

    @property
    def max_token_s(self) -> int:
        """How long a retired key stays published: the longest a token stays valid, plus the time
        a gateway may still sign with a key retired by a rotation it has not read yet."""
        lim = self._limits
        return max(lim.oidc_id_token_ttl_s, lim.oidc_access_token_ttl_s) + int(RING_CACHE_S) + 1

    async def ensure(self) -> None:
        """Makes the cluster's first key ring if there is none (the first gateway wins)."""
        if await self._store.get(RING_KEY, oidc.KeyRing) is not None:
            return
        now = int(time.time())
        ring = oidc.KeyRing(keys=[new_key(alg, now, now) for alg in oidc.ALGORITHMS])
        # Taken: another gateway made it first (or our acknowledgement was lost): read it next.
        with contextlib.suppress(Taken):
            await self._store.write(RING_KEY, ring, last=0)

    async def ring(self, fresh: bool = False) -> oidc.KeyRing:
        if fresh or self._ring is None or time.monotonic() - self._read_at > RING_CACHE_S:
            found = await self._store.get(RING_KEY, oidc.KeyRing)
            if found is None:
                await self.ensure()
                found = await self._store.get(RING_KEY, oidc.KeyRing)
            if found is None:
                raise Unavailable("the provider's signing keys are being created; retry", retry_after_s=1)
            self._ring, self._read_at = found[0], time.monotonic()
        return self._ring

    async def rotate(self, alg: str | None = None) -> list[str]:
        """Adds a new key for ``alg`` (None: every algorithm); returns the new key ids."""
        made: list[str] = []
        for each in [alg] if alg else list(oidc.ALGORITHMS):
            while True:
                found = await self._store.get(RING_KEY, oidc.KeyRing)
                ring, rev = found if found else (oidc.KeyRing(keys=[]), 0)
                now = int(time.time())
                key = new_key(each, now, now + self._limits.oidc_key_publish_s)
                try:
                    await self._store.write(
                        RING_KEY, oidc.rotated(ring, each, key, self.max_token_s), last=rev
                    )
                except Taken:
                    continue  # another rotation came first: add ours to what it wrote
                made.append(key.kid)
                break
        await self.ring(fresh=True)
        return made

    async def jwks(self) -> dict[str, Any]:
        ring = await self.ring()
        keys = [self._key(k) for k in oidc.published(ring, int(time.time()), self.max_token_s)]
        return dict(KeySet(keys).as_dict(private=False))

    async def sign(self, claims: dict[str, Any], alg: str = "RS256", typ: str = "JWT") -> str:
        ring = await self.ring()
        key = oidc.signing_key(ring, alg, int(time.time()))
        if key is None:
            ring = await self.ring(fresh=True)
            key = oidc.signing_key(ring, alg, int(time.time()))
        if key is None:
            raise Unavailable(f"no {alg} signing key yet; retry", retry_after_s=1)
        header = {"alg": alg, "kid": key.kid, "typ": typ}
        return jwt.encode(header, claims, self._key(key), algorithms=[alg])

    async def verify(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and claims of a token this provider signed (signature only: callers check the claims).
        ``alg: none`` and algorithms other than the provider's are refused by joserfc."""
        for fresh in (False, True):
            ring = await self.ring(fresh=fresh)
            keys = KeySet([self._key(k) for k in ring.keys])
            try:
                decoded = jwt.decode(token, keys, algorithms=list(oidc.ALGORITHMS))
                return dict(decoded.header), dict(decoded.claims)
            except InvalidKeyIdError:
                continue  # a key made a moment ago in another DC: read the ring again, once
            except (JoseError, ValueError) as exc:
                raise Unauthorized("the token does not verify", code="invalid_token") from exc
        raise Unauthorized("the token was not signed by a key of this provider", code="invalid_token")
