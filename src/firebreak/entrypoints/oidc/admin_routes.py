"""The provider's JSON API: a user's sites (``/v1/me/sites``, the messenger's bearer token) and
the operators' client registration and key rotation (``/internal/oidc/*``, the ops token).
Documented in the OpenAPI document like the rest of the API."""

from collections.abc import Awaitable, Callable
from typing import Annotated

import msgspec
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response

from firebreak.entrypoints.gateway import boundary
from firebreak.errors import NotFound
from firebreak.service.auth import TokenClaims
from firebreak.service.oidc_provider import OidcProvider
from firebreak.wire.views import Ok, SiteList, SiteView


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class ClientBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A relying party to register (``POST /internal/oidc/clients``)."""

    name: Annotated[str, _doc("shown to users on the consent page")]
    redirect_uris: Annotated[list[str], _doc("matched exactly")]
    post_logout_redirect_uris: list[str] = []
    public: Annotated[bool, _doc("a client without a secret (PKCE protects it)")] = False
    client_id: str | None = None
    id_token_alg: str = "RS256"
    replace: Annotated[bool, _doc("replace a client with this id (a new secret)")] = False


class RotateBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """New signing keys (``POST /internal/oidc/rotate-key``)."""

    alg: Annotated[str | None, _doc("RS256 or ES256; none: both")] = None


def add_oidc_admin_routes(
    app: FastAPI,
    provider: OidcProvider,
    auth: Callable[..., Awaitable[TokenClaims]],
    ops: Callable[..., Awaitable[None]],
) -> None:
    grants = provider.grants
    Me = Annotated[TokenClaims, Depends(auth)]

    @app.get("/v1/me/sites", responses=boundary.doc(SiteList) | boundary.errors(503))
    async def my_sites(me: Me) -> Response:
        sites = []
        for consent in await grants.sites(me.user_id):
            client = await grants.client(consent.client_id)
            if client is not None:
                sites.append(SiteView(consent.client_id, client.name, consent.scope, consent.at))
        return boundary.reply(SiteList(sites=sites))

    @app.delete("/v1/me/sites/{client_id}", responses=boundary.doc(Ok) | boundary.errors(404, 503))
    async def withdraw(me: Me, client_id: str) -> Response:
        """Withdraws the site's access: its refresh and access tokens for you stop working."""
        if await grants.client(client_id) is None:
            raise NotFound("you gave this site no access", code="unknown_site")
        await grants.withdraw(me.user_id, client_id)
        return boundary.reply(Ok())

    @app.post("/internal/oidc/clients", dependencies=[Depends(ops)], responses=boundary.errors(400, 403, 409))
    async def add_client(body: Annotated[ClientBody, boundary.json_body(ClientBody)]) -> JSONResponse:
        """Registers a relying party; the answer holds its secret, shown only this once."""
        client, secret = await grants.register(
            body.name,
            body.redirect_uris,
            public=body.public,
            post_logout_redirect_uris=body.post_logout_redirect_uris,
            client_id=body.client_id,
            id_token_alg=body.id_token_alg,
            replace=body.replace,
        )
        return JSONResponse(
            {
                "client_id": client.client_id,
                "client_secret": secret,
                "name": client.name,
                "redirect_uris": client.redirect_uris,
                "post_logout_redirect_uris": client.post_logout_redirect_uris,
                "public": client.public,
                "issuer": provider.issuer,
            },
            201,
        )

    @app.post("/internal/oidc/rotate-key", dependencies=[Depends(ops)], responses=boundary.errors(403))
    async def rotate(body: Annotated[RotateBody, boundary.json_body(RotateBody)]) -> JSONResponse:
        """Adds new signing keys: published in JWKS at once, signing after oidc_key_publish_s."""
        if body.alg is not None and body.alg not in ("RS256", "ES256"):
            return JSONResponse({"error": {"code": "invalid_alg", "message": "RS256 or ES256"}}, 400)
        return JSONResponse({"kids": await provider.keys.rotate(body.alg)})
