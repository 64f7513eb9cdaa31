"""The HTTP of a drill's simulated site (drill/login.py): a browser's way to a code at one DC
(authorize, sign in, consent) and the site's back end posting to /oauth/token across DCs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from firebreak.config import Config
from firebreak.drill.login_records import LoginRecord, Refused, Transient

PASSWORD = "drill password"
REDIRECT = "http://127.0.0.1:9/drill-callback"
#: Longer than the provider's own wait for a KV leader (a code exchange rides out an election).
REQUEST_TIMEOUT_S = 15.0
_INPUT = re.compile(r"<input type='hidden' name='([^']+)' value='([^']*)'>")


class OidcSite:
    """One confidential site registered with the provider, that knows every DC."""

    def __init__(self, config: Config, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._urls = [d.http_url for d in config.dcs]
        self._names = [d.name for d in config.dcs]
        self.users: list[str] = []
        self.client_id = ""
        self.secret = ""

    async def _code(self, i: int, dc: int) -> tuple[str, str]:
        """The browser's part at one DC: authorize, sign in, consent if asked; the code."""
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid profile",
            "state": secrets.token_hex(8),
            "nonce": secrets.token_hex(8),
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        base = self._urls[dc]
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as browser:
            try:
                resp = await browser.get(f"{base}/oauth/authorize?{urlencode(params)}")
                if resp.status_code == 200 and "name='password'" in resp.text:
                    form = _hidden(resp.text) | {"username": self.users[i], "password": PASSWORD}
                    resp = await browser.post(f"{base}/oauth/authorize/login", data=form)
                if resp.status_code == 200 and "decision" in resp.text:
                    form = _hidden(resp.text) | {"decision": "allow"}
                    resp = await browser.post(f"{base}/oauth/authorize/consent", data=form)
            except httpx.ConnectError as exc:
                raise Transient("unreachable", False) from exc
            except httpx.HTTPError as exc:
                raise Transient(type(exc).__name__, True) from exc
        if resp.status_code not in (302, 303):
            raise Transient(f"http_{resp.status_code}", resp.status_code >= 500)
        got = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["location"]).query).items()}
        if got.get("state") != params["state"] or "code" not in got:
            raise Transient(got.get("error", "no_code"), False)
        return got["code"], verifier

    async def _token(
        self, data: dict[str, str], order: list[int], end: float, record: LoginRecord
    ) -> dict[str, Any]:
        """Posts to /oauth/token at each DC in turn until one answers for good or ``end``."""
        auth = httpx.BasicAuth(self.client_id, self.secret)
        last = Transient("unreachable", False)
        turn = 0
        while True:
            dc = order[turn % len(order)]
            turn += 1
            record.tries += 1
            try:
                async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
                    resp = await http.post(self._urls[dc] + "/oauth/token", data=data, auth=auth)
            except httpx.ConnectError:
                last = Transient("unreachable", False)
            except httpx.HTTPError as exc:
                record.doubtful = True
                last = Transient(type(exc).__name__, True)
            else:
                if resp.status_code == 200:
                    record.dc = self._names[dc]
                    body: dict[str, Any] = resp.json()
                    return body
                error = _oauth_error(resp)
                if resp.status_code < 500 and resp.status_code != 429:
                    raise Refused(error, self._names[dc])
                last = Transient(error, resp.status_code != 503)
            if self._clock() >= end:
                raise last
            await asyncio.sleep(0.2)


async def post_or_none(http: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response | None:
    try:
        return await http.post(url, **kw)
    except httpx.HTTPError:
        return None


def why_not(resp: httpx.Response | None) -> str:
    if resp is None:
        return "unreachable"
    if resp.status_code == 200:
        return ""
    return _oauth_error(resp)


def _oauth_error(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error") or f"http_{resp.status_code}")
    except ValueError:
        return f"http_{resp.status_code}"


def _hidden(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _INPUT.findall(page)}
