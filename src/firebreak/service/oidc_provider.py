"""The OpenID Connect provider of one gateway: its keys, grants and tokens, built together
(docs/LOGIN.md). Every part keeps its state in the replicated KV bucket, so every DC's provider
is the same provider."""

from __future__ import annotations

from dataclasses import dataclass

from firebreak.adapters.oidc_store import OidcStore
from firebreak.adapters.sqlite_queries import Queries
from firebreak.limits import Limits
from firebreak.service.oidc_grants import OidcGrants
from firebreak.service.oidc_keys import OidcKeys
from firebreak.service.oidc_tokens import OidcTokens


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    keys: OidcKeys
    grants: OidcGrants
    tokens: OidcTokens

    @classmethod
    def build(cls, store: OidcStore, queries: Queries, limits: Limits, issuer: str) -> OidcProvider:
        keys = OidcKeys(store, limits)
        grants = OidcGrants(store, limits)
        return cls(issuer, keys, grants, OidcTokens(store, grants, keys, queries, limits, issuer))
