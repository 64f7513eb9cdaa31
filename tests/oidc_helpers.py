"""Driving the OpenID Connect provider of a test cluster as a site and a browser would, with
httpx: register a client (ops API), sign in and consent through the HTML forms, exchange codes."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from firebreak.localcluster import LocalCluster
from tests.helpers import uname

REDIRECT = "http://127.0.0.1:9/callback"
LOGOUT_BACK = "http://127.0.0.1:9/signed-out"
PASSWORD = "correct horse"
_INPUT = re.compile(r"<input type='hidden' name='([^']+)' value='([^']*)'>")


@dataclass
class Site:
    client_id: str
    secret: str | None

    def auth(self) -> httpx.BasicAuth | None:
        return httpx.BasicAuth(self.client_id, self.secret) if self.secret else None


@dataclass
class Code:
    code: str
    verifier: str
    nonce: str


def url(cluster: LocalCluster, dc: int) -> str:
    return cluster.config.dcs[dc].http_url


async def add_site(cluster: LocalCluster, *, public: bool = False, dc: int = 0) -> Site:
    body = {
        "name": f"Site {secrets.token_hex(3)}",
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [LOGOUT_BACK],
        "public": public,
    }
    async with httpx.AsyncClient(timeout=20) as http:
        resp = await http.post(
            url(cluster, dc) + "/internal/oidc/clients",
            json=body,
            headers={"x-ops-token": cluster.config.secrets.ops_token},
        )
    assert resp.status_code == 201, resp.text
    data = resp.json()
    return Site(data["client_id"], data["client_secret"])


async def new_user(cluster: LocalCluster) -> str:
    name = uname("oidc")
    async with httpx.AsyncClient(timeout=20) as http:
        reg = {"username": name, "password": PASSWORD, "request_id": name}
        resp = await http.post(url(cluster, 0) + "/v1/accounts", json=reg)
    assert resp.status_code == 201, resp.text
    return name


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _INPUT.findall(page)}


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_params(site: Site, challenge: str | None, nonce: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": site.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": secrets.token_hex(8),
        "nonce": nonce,
        **extra,
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return params


async def sign_in(
    cluster: LocalCluster, site: Site, username: str, dc: int = 0, browser: httpx.AsyncClient | None = None
) -> Code:
    """The browser's part: the authorization request, sign-in, consent (if asked); the code."""
    verifier, challenge = pkce()
    nonce = secrets.token_hex(8)
    params = authorize_params(site, challenge, nonce)
    own = browser is None
    http = browser or httpx.AsyncClient(timeout=30)
    try:
        base = url(cluster, dc)
        resp = await http.get(f"{base}/oauth/authorize?{urlencode(params)}")
        if resp.status_code == 200 and "name='password'" in resp.text:
            form = hidden(resp.text) | {"username": username, "password": PASSWORD}
            resp = await http.post(f"{base}/oauth/authorize/login", data=form)
        if resp.status_code == 200 and "decision" in resp.text:
            form = hidden(resp.text) | {"decision": "allow"}
            resp = await http.post(f"{base}/oauth/authorize/consent", data=form)
        assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
        location = resp.headers["location"]
        assert location.startswith(REDIRECT + "?"), location
        got = query_of(location)
        assert got["state"] == params["state"]
        return Code(got["code"], verifier, nonce)
    finally:
        if own:
            await http.aclose()


async def token(cluster: LocalCluster, site: Site, dc: int, form: dict[str, str]) -> httpx.Response:
    data = dict(form)
    if site.secret is None:
        data["client_id"] = site.client_id
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url(cluster, dc) + "/oauth/token", data=data, auth=site.auth())  # type: ignore[arg-type]


async def exchange(
    cluster: LocalCluster, site: Site, code: Code, dc: int, verifier: str | None = None
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code.code, "redirect_uri": REDIRECT}
    chosen = code.verifier if verifier is None else verifier
    if chosen:
        form["code_verifier"] = chosen
    return await token(cluster, site, dc, form)


async def refresh(cluster: LocalCluster, site: Site, refresh_token: str, dc: int) -> httpx.Response:
    return await token(cluster, site, dc, {"grant_type": "refresh_token", "refresh_token": refresh_token})


async def userinfo(cluster: LocalCluster, access_token: str, dc: int) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(
            url(cluster, dc) + "/oauth/userinfo", headers={"authorization": f"Bearer {access_token}"}
        )


async def jwks(cluster: LocalCluster, dc: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.get(url(cluster, dc) + "/oauth/jwks")
    assert resp.status_code == 200
    data: dict[str, Any] = resp.json()
    return data


def oauth_error(resp: httpx.Response) -> str:
    body = resp.json()
    assert body.get("error_description"), body
    return str(body["error"])
