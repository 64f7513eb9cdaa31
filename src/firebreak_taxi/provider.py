"""The provider as this site sees it: one issuer served by every DC.

Discovery, the JWKS, the token endpoint and userinfo are asked at the DC the site used last; when
that DC does not answer (a transport error or a 5xx), the same request goes to the next DC, with the
endpoint's path at that DC's address. The issuer, and so every token, is the same at each.
OAuth 2.0 itself (PKCE, the code exchange, refresh) is authlib's client.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from joserfc.jwk import KeySet

with warnings.catch_warnings():
    # authlib 1.9 warns that it would rather use the httpx2 package; the site uses httpx (as the
    # rest of the repository), which authlib 1.9 supports.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from firebreak_taxi.idtoken import UnknownKey, verify_id_token
from firebreak_taxi.settings import TaxiSettings

T = TypeVar("T")


class ProviderDown(Exception):
    """No DC answered."""


class DCFailed(Exception):
    """This DC answered with a server error: another may serve the request."""


def at_dc(url: str, dc: str) -> str:
    """``url`` (an endpoint of the issuer) as served by DC ``dc``: the DC's scheme and host, the
    endpoint's path and query."""
    u, d = urlsplit(url), urlsplit(dc)
    return urlunsplit((d.scheme, d.netloc, u.path, u.query, ""))


def _server_error(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 500:
        raise DCFailed(f"{response.request.url} answered {response.status_code}")
    return response


class Provider:
    def __init__(self, settings: TaxiSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport
        self._dcs = list(settings.provider_urls)
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    @property
    def dc(self) -> str:
        """The DC address the site talks to now (the last one that answered)."""
        return self._dcs[0]

    async def _each_dc(self, call: Callable[[str], Awaitable[T]]) -> tuple[T, str]:
        """``call`` at the current DC, then at each other until one answers; the one that answered
        becomes the current DC."""
        last: Exception | None = None
        for dc in list(self._dcs):
            try:
                result = await call(dc)
            except (httpx.TransportError, DCFailed) as exc:
                last = exc
                continue
            self._dcs.remove(dc)
            self._dcs.insert(0, dc)
            return result, dc
        raise ProviderDown(f"no DC of {self.settings.issuer} answered: {last}")

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            timeout=self.settings.request_timeout_s,
            event_hooks={"response": [self._check]},
        )

    @staticmethod
    async def _check(response: httpx.Response) -> None:
        _server_error(response)

    def _oauth(self, token: dict[str, Any] | None = None) -> AsyncOAuth2Client:
        secret = self.settings.client_secret
        client = AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=self.settings.scope,
            redirect_uri=self.settings.redirect_uri,
            code_challenge_method="S256",
            token=token,
            leeway=0,
            transport=self._transport,
            timeout=self.settings.request_timeout_s,
        )
        client.register_compliance_hook("access_token_response", _server_error)
        client.register_compliance_hook("refresh_token_response", _server_error)
        return client

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once; its issuer must be the configured one)."""
        if self._metadata is None:
            issuer = self.settings.issuer

            async def fetch(dc: str) -> dict[str, Any]:
                async with self._http() as http:
                    url = at_dc(issuer.rstrip("/") + "/.well-known/openid-configuration", dc)
                    doc: dict[str, Any] = (await http.get(url)).raise_for_status().json()
                return doc

            doc, _ = await self._each_dc(fetch)
            if doc.get("issuer") != issuer:
                raise ProviderDown(f"discovery names issuer {doc.get('issuer')!r}, not {issuer!r}")
            self._metadata = doc
        return self._metadata

    async def _endpoint(self, name: str) -> str:
        url = (await self.metadata()).get(name)
        if not isinstance(url, str):
            raise ProviderDown(f"the provider has no {name}")
        return url

    async def keys(self, *, fresh: bool = False) -> KeySet:
        if self._keys is None or fresh:
            jwks_uri = await self._endpoint("jwks_uri")

            async def fetch(dc: str) -> KeySet:
                async with self._http() as http:
                    return KeySet.import_key_set(
                        (await http.get(at_dc(jwks_uri, dc))).raise_for_status().json()
                    )

            keys, _ = await self._each_dc(fetch)
            self._keys = keys
            return keys
        return self._keys

    async def verify(self, id_token: str, *, nonce: str | None, sub: str | None = None) -> dict[str, Any]:
        """The ID token's claims; a key the site has not seen yet (rotation) makes it fetch the JWKS again."""
        args: dict[str, Any] = {
            "issuer": self.settings.issuer,
            "client_id": self.settings.client_id,
            "nonce": nonce,
            "sub": sub,
        }
        try:
            return verify_id_token(id_token, await self.keys(), **args)
        except UnknownKey:
            return verify_id_token(id_token, await self.keys(fresh=True), **args)

    async def authorization_url(self, *, state: str, nonce: str, verifier: str) -> str:
        """Where to send the browser to sign in: the current DC's authorization endpoint."""
        issuer = self.settings.issuer

        async def alive(dc: str) -> None:
            # The browser is sent to a DC that answers now, not to the one that answered last.
            async with self._http() as http:
                (
                    await http.get(at_dc(issuer.rstrip("/") + "/.well-known/openid-configuration", dc))
                ).raise_for_status()

        _, dc = await self._each_dc(alive)
        endpoint = at_dc(await self._endpoint("authorization_endpoint"), dc)
        async with self._oauth() as oauth:
            url, _ = oauth.create_authorization_url(
                endpoint, state=state, nonce=nonce, code_verifier=verifier
            )
        return str(url)

    async def exchange(self, code: str, verifier: str) -> tuple[dict[str, Any], str]:
        """The code for tokens (and the DC that answered)."""
        endpoint = await self._endpoint("token_endpoint")

        async def fetch(dc: str) -> dict[str, Any]:
            async with self._oauth() as oauth:
                token: dict[str, Any] = await oauth.fetch_token(
                    at_dc(endpoint, dc), grant_type="authorization_code", code=code, code_verifier=verifier
                )
            return token

        return await self._each_dc(fetch)

    async def refresh(self, refresh_token: str) -> tuple[dict[str, Any], str]:
        endpoint = await self._endpoint("token_endpoint")

        async def fetch(dc: str) -> dict[str, Any]:
            async with self._oauth() as oauth:
                token: dict[str, Any] = await oauth.refresh_token(
                    at_dc(endpoint, dc), refresh_token=refresh_token
                )
            return dict(token)

        return await self._each_dc(fetch)

    async def userinfo(self, access_token: str) -> tuple[dict[str, Any], str]:
        endpoint = await self._endpoint("userinfo_endpoint")

        async def fetch(dc: str) -> dict[str, Any]:
            async with self._oauth({"access_token": access_token, "token_type": "Bearer"}) as oauth:
                response = _server_error(await oauth.get(at_dc(endpoint, dc)))
                info: dict[str, Any] = response.raise_for_status().json()
            return info

        return await self._each_dc(fetch)

    async def end_session_url(self, id_token: str) -> str | None:
        """RP-initiated logout at the current DC, back to this site's front page."""
        endpoint = (await self.metadata()).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        query = urlencode(
            {
                "id_token_hint": id_token,
                "client_id": self.settings.client_id,
                "post_logout_redirect_uri": self.settings.post_logout_redirect_uri,
            }
        )
        return at_dc(endpoint, self.dc) + ("&" if "?" in endpoint else "?") + query
