"""The token side of the OpenID Connect provider: the code exchange and refresh with rotation;
userinfo, revocation and introspection are in service/oidc_token_checks.py.

A code is redeemed exactly once across every DC: the redemption is a KV ``create`` of
``redeemed.<code hash>`` (one winner, whichever DCs race). Its value names the refresh-token
family the winner starts and a request token, so a retry whose acknowledgement was lost knows
itself. A second redemption is refused and revokes that family: what the first redemption
issued stops working (RFC 6749 4.1.2). A refresh token rotates by compare-and-set on its family;
any token of the family other than the newest revokes the family (a stolen token was used).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec

from firebreak.adapters.oidc_store import Taken
from firebreak.domain import oidc
from firebreak.errors import OAuthError
from firebreak.service.oidc_grants import REPLAY_MEMORY_S, code_key
from firebreak.service.oidc_token_checks import ACCESS_TYP, OidcTokenChecks, family_key


def invalid_grant(message: str) -> OAuthError:
    return OAuthError(message, code="invalid_grant")


class TokenSet(msgspec.Struct, frozen=True):
    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int
    scope: str
    token_type: str = "Bearer"


class OidcTokens(OidcTokenChecks):
    """Issues tokens; the checks of what it issued come with it."""

    # ---- client authentication ----------------------------------------------------------------

    async def client(
        self, client_id: str, secret: str | None, *, confidential: bool = False
    ) -> oidc.OidcClient:
        """The calling client: a confidential one must present its secret, a public one none."""
        client = await self._grants.client(client_id)
        if client is None:
            raise OAuthError("unknown client", code="invalid_client", status=401)
        if client.public:
            if confidential:
                raise OAuthError("only confidential clients may do this", code="unauthorized_client")
            return client
        if secret is None or not oidc.secret_matches(client, secret):
            raise OAuthError("client authentication failed", code="invalid_client", status=401)
        return client

    # ---- the code exchange --------------------------------------------------------------------

    async def exchange(
        self, client: oidc.OidcClient, code: str, redirect_uri: str, verifier: str | None
    ) -> TokenSet:
        found = await self._store.get(code_key(code), oidc.CodeGrant)
        if found is None:
            raise invalid_grant("unknown or expired code")
        grant = found[0]
        if grant.client_id != client.client_id:
            raise invalid_grant("the code was issued to another client")
        if grant.redirect_uri != redirect_uri:
            raise invalid_grant("redirect_uri differs from the authorization request's")
        redeemed = f"redeemed.{oidc.sha256_hex(code)}"
        if grant.expires_at < time.time():
            earlier = await self._store.get(redeemed, oidc.Redemption)
            if earlier is not None:  # a replay: what the code gave is revoked all the same
                await self.revoke_family(earlier[0].family_id)
            raise invalid_grant("the code has expired")
        if not oidc.pkce_ok(verifier, grant.code_challenge):
            raise invalid_grant("code_verifier does not match the code_challenge")
        request, family_id = secrets.token_hex(12), secrets.token_hex(16)
        ttl = self._limits.oidc_code_ttl_s + REPLAY_MEMORY_S
        winner = await self._store.create(redeemed, oidc.Redemption(request, family_id), ttl_s=ttl)
        if winner.request != request:
            await self.revoke_family(winner.family_id)
            raise invalid_grant("this code was already used; what it gave is revoked")
        now = int(time.time())
        token = oidc.new_refresh_token(family_id)
        family = oidc.Family(
            family_id=family_id,
            client_id=client.client_id,
            user_id=grant.user_id,
            scope=grant.scope,
            auth_time=grant.auth_time,
            consent_gen=grant.consent_gen,
            current_sha256=oidc.sha256_hex(token),
            generation=1,
            expires_at=now + self._limits.oidc_refresh_ttl_s,
            request=request,
        )
        try:
            await self._store.write(
                family_key(family_id), family, last=0, ttl_s=self._limits.oidc_refresh_ttl_s
            )
        except Taken:
            # A racing redemption of the same code revoked this family before it was written.
            raise invalid_grant("this code was already used; what it gave is revoked") from None
        return await self._tokens(client, family, token, grant.nonce)

    # ---- refresh ------------------------------------------------------------------------------

    async def refresh(self, client: oidc.OidcClient, token: str) -> TokenSet:
        family_id = oidc.family_of(token)
        if family_id is None:
            raise invalid_grant("malformed refresh token")
        request = secrets.token_hex(12)
        new_token = oidc.new_refresh_token(family_id)
        while True:
            found = await self._store.get(family_key(family_id), oidc.Family)
            if found is None:
                raise invalid_grant("unknown or expired refresh token")
            family, rev = found
            if family.client_id != client.client_id:
                raise invalid_grant("the refresh token was issued to another client")
            if family.request == request:  # our own rotation, whose acknowledgement was lost
                break
            if family.revoked or family.expires_at < time.time():
                raise invalid_grant("the refresh token is revoked or expired")
            if not await self._consented(family):
                raise invalid_grant("the user withdrew this site's access")
            if family.current_sha256 != oidc.sha256_hex(token):
                await self.revoke_family(family_id)
                raise invalid_grant("this refresh token was already used; the whole family is revoked")
            family = msgspec.structs.replace(
                family,
                current_sha256=oidc.sha256_hex(new_token),
                generation=family.generation + 1,
                request=request,
            )
            try:
                await self._store.write(family_key(family_id), family, last=rev, ttl_s=self._ttl(family))
                break
            except Taken:
                continue  # changed since read: reread (a rotation elsewhere makes ours a reuse)
        return await self._tokens(client, family, new_token, None)

    # ---- issuing ------------------------------------------------------------------------------

    async def _tokens(
        self, client: oidc.OidcClient, family: oidc.Family, refresh_token: str, nonce: str | None
    ) -> TokenSet:
        now = int(time.time())
        lim = self._limits
        access = {
            "iss": self._issuer,
            "sub": family.user_id,
            "aud": self._issuer,
            "client_id": client.client_id,
            "scope": family.scope,
            "fam": family.family_id,
            "jti": secrets.token_hex(12),
            "iat": now,
            "exp": now + lim.oidc_access_token_ttl_s,
        }
        id_claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": family.user_id,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + lim.oidc_id_token_ttl_s,
            "auth_time": family.auth_time,
        }
        if nonce:
            id_claims["nonce"] = nonce
        id_claims.update(self._profile(family.user_id, family.scope))
        return TokenSet(
            access_token=await self._keys.sign(access, "RS256", typ=ACCESS_TYP),
            id_token=await self._keys.sign(id_claims, client.id_token_alg),
            refresh_token=refresh_token,
            expires_in=lim.oidc_access_token_ttl_s,
            scope=family.scope,
        )
