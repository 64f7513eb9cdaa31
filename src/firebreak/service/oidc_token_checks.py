"""The checking side of the OpenID Connect provider's tokens (docs/LOGIN.md): whether an access
token is live, userinfo, revocation (RFC 7009) and introspection (RFC 7662), and a family's
revocation, which the code exchange and refresh (service/oidc_tokens.py) also use."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from firebreak.adapters.oidc_store import OidcStore, Taken
from firebreak.adapters.sqlite_queries import Queries
from firebreak.domain import oidc
from firebreak.errors import OAuthError, Unauthorized
from firebreak.limits import Limits
from firebreak.service.oidc_grants import OidcGrants
from firebreak.service.oidc_keys import OidcKeys

ACCESS_TYP = "at+jwt"


def family_key(family_id: str) -> str:
    return f"family.{family_id}"


class OidcTokenChecks:
    def __init__(
        self,
        store: OidcStore,
        grants: OidcGrants,
        keys: OidcKeys,
        queries: Queries,
        limits: Limits,
        issuer: str,
    ) -> None:
        self._store = store
        self._grants = grants
        self._keys = keys
        self._q = queries
        self._limits = limits
        self._issuer = issuer

    def _ttl(self, family: oidc.Family) -> float:
        return max(1.0, family.expires_at - time.time())

    async def revoke_family(self, family_id: str) -> None:
        """Marks a family revoked (creating the record if its redemption has not written it yet)."""
        while True:
            found = await self._store.get(family_key(family_id), oidc.Family)
            if found is not None and found[0].revoked:
                return
            family = (
                msgspec.structs.replace(found[0], revoked=True)
                if found
                else oidc.Family(family_id=family_id, revoked=True, expires_at=int(time.time()) + 3600)
            )
            try:
                await self._store.write(
                    family_key(family_id), family, last=found[1] if found else 0, ttl_s=self._ttl(family)
                )
                return
            except Taken:
                continue

    async def _consented(self, family: oidc.Family) -> bool:
        consent = await self._grants.consent(family.user_id, family.client_id)
        return consent is not None and consent.granted and consent.gen == family.consent_gen

    def _profile(self, user_id: str, scope: str) -> dict[str, str]:
        if "profile" not in scope.split():
            return {}
        row = self._q.user_by_id(user_id)
        return {"name": row.display_name, "preferred_username": row.username} if row else {}

    # ---- using access tokens ------------------------------------------------------------------

    async def active(self, token: str) -> dict[str, Any] | None:
        """An access token's claims if it is valid now: signed by this provider, unexpired, and
        its family neither revoked nor withdrawn by the user. None otherwise."""
        try:
            header, claims = await self._keys.verify(token)
        except Unauthorized:
            return None
        if header.get("typ") != ACCESS_TYP or claims.get("iss") != self._issuer:
            return None
        if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
            return None
        found = await self._store.get(family_key(str(claims.get("fam", ""))), oidc.Family)
        if found is None or found[0].revoked or not await self._consented(found[0]):
            return None
        return claims

    async def userinfo(self, token: str) -> dict[str, str]:
        claims = await self.active(token)
        if claims is None:
            raise OAuthError("the access token is not valid", code="invalid_token", status=401)
        return {"sub": str(claims["sub"]), **self._profile(str(claims["sub"]), str(claims.get("scope", "")))}

    async def revoke(self, client: oidc.OidcClient, token: str) -> None:
        """RFC 7009: revokes the family of a refresh or access token of ``client``; an unknown or
        foreign token is answered the same (200), as the RFC asks."""
        family_id = oidc.family_of(token)
        if family_id is None:
            claims = await self.active(token)
            family_id = str(claims["fam"]) if claims and claims.get("client_id") == client.client_id else None
        if family_id is None:
            return
        found = await self._store.get(family_key(family_id), oidc.Family)
        if found is not None and found[0].client_id == client.client_id:
            await self.revoke_family(family_id)

    async def introspect(self, client: oidc.OidcClient, token: str) -> dict[str, Any]:
        """RFC 7662 for the calling client's own tokens: ``{"active": false}`` for anything else."""
        family_id = oidc.family_of(token)
        if family_id is not None:
            found = await self._store.get(family_key(family_id), oidc.Family)
            if found is None:
                return {"active": False}
            fam = found[0]
            live = (
                fam.client_id == client.client_id
                and not fam.revoked
                and fam.expires_at > time.time()
                and fam.current_sha256 == oidc.sha256_hex(token)
                and await self._consented(fam)
            )
            if not live:
                return {"active": False}
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": fam.client_id,
                "sub": fam.user_id,
                "scope": fam.scope,
                "exp": fam.expires_at,
                "iss": self._issuer,
            }
        claims = await self.active(token)
        if claims is None or claims.get("client_id") != client.client_id:
            return {"active": False}
        keep = ("sub", "client_id", "scope", "exp", "iat", "iss", "aud", "jti")
        return {"active": True, "token_type": "access_token", **{k: claims[k] for k in keep if k in claims}}
