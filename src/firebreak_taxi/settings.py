"""What the taxi site is told at start: where it listens, its database, and who its provider is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TaxiSettings:
    #: The provider's issuer, the same at every DC (the ID token's ``iss``).
    issuer: str
    #: Every DC's address (scheme and host): the issuer's endpoints are served at each.
    provider_urls: tuple[str, ...]
    client_id: str
    #: None for a public client (PKCE alone); else sent with HTTP Basic at the token endpoint.
    client_secret: str | None
    #: This site's own address, e.g. ``http://127.0.0.1:8010`` (redirect URIs are built from it).
    public_url: str
    database: Path
    #: Refresh the access token when it has less than this left.
    refresh_margin_s: float = 10.0
    #: A sign-in that is not finished within this is forgotten (its state, nonce and verifier).
    login_within_s: float = 600.0
    #: How long a callback keeps trying to exchange its code while no DC can (a DC burned and the
    #: others are electing new leaders); the code itself stays valid for about a minute.
    exchange_within_s: float = 20.0
    #: How long one request to one DC may take before the next DC is tried.
    request_timeout_s: float = 5.0
    scope: str = "openid profile"

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/"
