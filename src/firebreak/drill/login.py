"""The login workload of a drill (``--workload login``): simulated sites signing users in with
OpenID Connect over plain HTTP, as a browser and a site's back end would.

One confidential site is registered with the provider; ``login_users`` accounts each have a home
DC (round-robin) but the site knows all three. On an open-loop schedule (``rate`` attempts per
second) a random user either signs in (authorize with PKCE, state and nonce; the sign-in form;
consent the first time; the code) and the site exchanges the code at ANOTHER DC than the one that
issued it, or the site refreshes the user's newest token family. Each attempt is retried across
DCs until ``send_deadline_s`` and recorded (drill/login_checker.py judges the records).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import random
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import msgspec

from firebreak.config import Config
from firebreak.drill.plan import DrillOptions
from firebreak.errors import FirebreakError

PASSWORD = "drill password"
REDIRECT = "http://127.0.0.1:9/drill-callback"
#: Longer than the provider's own wait for a KV leader (a code exchange rides out an election).
REQUEST_TIMEOUT_S = 15.0
_INPUT = re.compile(r"<input type='hidden' name='([^']+)' value='([^']*)'>")


class LoginRecord(msgspec.Struct):
    """One sign-in or refresh as the site saw it, after all its retries."""

    kind: str  # "sign_in" or "refresh"
    user: str
    started: float
    finished: float = 0.0
    ok: bool = False
    #: The last error code ("" when ok): an OAuth error, "http_<status>" or "unreachable".
    error: str = ""
    #: The DC that answered the token request (ok or refused), or "" if none did.
    dc: str = ""
    #: For a sign-in: the DC that issued the code, and a fingerprint of the code.
    code_dc: str = ""
    code: str = ""
    family: str = ""
    #: 1 for a sign-in's tokens, +1 for each acknowledged refresh.
    generation: int = 0
    #: Some try may have reached a DC and changed state without the site hearing back.
    doubtful: bool = False
    tries: int = 0


class FamilyProbe(msgspec.Struct, frozen=True):
    """A check after the drill of a family's newest acknowledged tokens at one DC."""

    family: str
    dc: str
    #: "introspect" (the refresh token is active), "userinfo" (the access token works) or
    #: "refresh" (the refresh token rotates)
    check: str
    ok: bool
    error: str = ""


class Family(msgspec.Struct):
    family: str
    user: str
    refresh_token: str
    access_token: str
    generation: int
    code: str
    #: The last attempt on this family was acknowledged: its tokens are the current ones.
    clean: bool = True


class Transient(Exception):
    """A try that may be retried at another DC."""

    def __init__(self, error: str, doubtful: bool) -> None:
        super().__init__(error)
        self.error, self.doubtful = error, doubtful


class Refused(Exception):
    def __init__(self, error: str, dc: str) -> None:
        super().__init__(error)
        self.error, self.dc = error, dc


def fingerprint(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def family_of(refresh_token: str) -> str:
    return refresh_token.split(".")[1]


class LoginWorkload:
    def __init__(self, config: Config, options: DrillOptions, clock: Callable[[], float]) -> None:
        self._config = config
        self._o = options
        self._clock = clock
        self._rng = random.Random(options.seed)
        self._urls = [d.http_url for d in config.dcs]
        self._names = [d.name for d in config.dcs]
        self.users: list[str] = []
        self.client_id = ""
        self.secret = ""
        self.records: list[LoginRecord] = []
        self.families: dict[str, Family] = {}
        #: user index -> the family the site keeps for that user
        self._current: dict[int, str] = {}
        self._locks: list[asyncio.Lock] = []
        self._codes: dict[str, tuple[str, str]] = {}  # family -> (code, verifier)

    # ---- setup --------------------------------------------------------------------------------

    async def setup(self) -> None:
        headers = {"x-ops-token": self._config.secrets.ops_token}
        body = {"name": "Drill site", "redirect_uris": [REDIRECT], "public": False}
        async with httpx.AsyncClient(timeout=30) as http:
            resp = await http.post(self._urls[0] + "/internal/oidc/clients", json=body, headers=headers)
            if resp.status_code != 201:
                raise FirebreakError(f"registering the drill site: {resp.status_code} {resp.text[:200]}")
            self.client_id, self.secret = resp.json()["client_id"], resp.json()["client_secret"]
            for i in range(self._o.login_users):
                name = f"signer{self._o.seed}x{i}"
                reg = {"username": name, "password": PASSWORD, "request_id": name}
                resp = await http.post(self._urls[i % len(self._urls)] + "/v1/accounts", json=reg)
                if resp.status_code != 201:
                    raise FirebreakError(f"registering {name}: {resp.status_code} {resp.text[:200]}")
                self.users.append(name)
        self._locks = [asyncio.Lock() for _ in self.users]

    # ---- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        tasks: list[asyncio.Task[None]] = []
        for k in range(int(self._o.rate * self._o.duration_s)):
            delay = k / self._o.rate - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if stop.is_set():
                break
            i = self._rng.randrange(len(self.users))
            sign_in = i not in self._current or self._rng.random() < 0.3
            tasks.append(asyncio.create_task(self._attempt(i, sign_in)))
        if tasks:
            await asyncio.wait(tasks, timeout=self._o.send_deadline_s * 2 + 10)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for record in self.records:
            if not record.finished:  # cut off by the bound above: its family may have rotated
                record.error, record.finished = "cancelled", self._clock()
                if record.family in self.families:
                    self.families[record.family].clean = False

    async def _attempt(self, i: int, sign_in: bool) -> None:
        async with self._locks[i]:
            if sign_in or i not in self._current:
                await self._sign_in(i)
            else:
                await self._refresh(i)

    async def _sign_in(self, i: int) -> None:
        record = LoginRecord("sign_in", self.users[i], started=self._clock())
        self.records.append(record)
        end = record.started + self._o.send_deadline_s
        home = i % len(self._urls)
        n = 0
        while True:
            issuer = (home + n) % len(self._urls)
            n += 1
            record.tries += 1
            try:
                code, verifier = await self._code(i, issuer)
                record.code_dc, record.code = self._names[issuer], fingerprint(code)
                # The exchange goes to another DC first, then to the rest (the issuer last).
                order = [(issuer + 1 + j) % len(self._urls) for j in range(len(self._urls))]
                data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
                data["code_verifier"] = verifier
                tokens = await self._token(data, order, end, record)
                fam = family_of(tokens["refresh_token"])
                self._codes[fam] = (code, verifier)
                self.families[fam] = Family(
                    fam, self.users[i], tokens["refresh_token"], tokens["access_token"], 1, record.code
                )
                self._current[i] = fam
                record.ok, record.family, record.generation = True, fam, 1
                break
            except Refused as exc:
                record.error, record.dc = exc.error, exc.dc
                break
            except Transient as exc:
                record.error = exc.error
                if self._clock() >= end:
                    break
                await asyncio.sleep(0.2)
        record.finished = self._clock()

    async def _refresh(self, i: int) -> None:
        fam = self.families[self._current[i]]
        record = LoginRecord(
            "refresh", self.users[i], started=self._clock(), family=fam.family, generation=fam.generation
        )
        self.records.append(record)
        home = i % len(self._urls)
        order = [(home + j) % len(self._urls) for j in range(len(self._urls))]
        data = {"grant_type": "refresh_token", "refresh_token": fam.refresh_token}
        try:
            tokens = await self._token(data, order, record.started + self._o.send_deadline_s, record)
            fam.refresh_token, fam.access_token = tokens["refresh_token"], tokens["access_token"]
            fam.generation += 1
            fam.clean = True
            record.ok, record.generation = True, fam.generation
        except Refused as exc:
            # invalid_grant: the family is gone; the site sends the user to sign in again.
            record.error, record.dc = exc.error, exc.dc
            fam.clean = False
            del self._current[i]
        except Transient as exc:
            record.error = exc.error
            fam.clean = False
        record.finished = self._clock()

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

    # ---- after the drill ----------------------------------------------------------------------

    async def probe(self, alive: list[int]) -> list[FamilyProbe]:
        """Checks every clean family's newest tokens at every serving DC: introspection and
        userinfo at each, then a chain of refreshes, one at each DC."""
        probes: list[FamilyProbe] = []
        auth = httpx.BasicAuth(self.client_id, self.secret)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
            for fam in self.families.values():
                if not fam.clean:
                    continue
                for dc in alive:
                    url, name = self._urls[dc], self._names[dc]
                    resp = await _post_or_none(
                        http, url + "/oauth/introspect", data={"token": fam.refresh_token}, auth=auth
                    )
                    active = resp is not None and resp.status_code == 200 and bool(resp.json().get("active"))
                    why = _why(resp) or ("" if active else "inactive")
                    probes.append(FamilyProbe(fam.family, name, "introspect", active, why))
                    try:
                        resp = await http.get(
                            url + "/oauth/userinfo", headers={"authorization": f"Bearer {fam.access_token}"}
                        )
                    except httpx.HTTPError:
                        resp = None
                    ok = resp is not None and resp.status_code == 200
                    probes.append(FamilyProbe(fam.family, name, "userinfo", ok, _why(resp)))
                for dc in alive:
                    data = {"grant_type": "refresh_token", "refresh_token": fam.refresh_token}
                    resp = await _post_or_none(http, self._urls[dc] + "/oauth/token", data=data, auth=auth)
                    ok = resp is not None and resp.status_code == 200
                    if ok and resp is not None:
                        fam.refresh_token = resp.json()["refresh_token"]
                        fam.generation += 1
                    probes.append(FamilyProbe(fam.family, self._names[dc], "refresh", ok, _why(resp)))
                    if not ok:
                        break
        return probes

    def clean_family(self) -> Family:
        for fam in self.families.values():
            if fam.clean:
                return fam
        raise FirebreakError("no acknowledged family to break")

    def code_of(self, family: str) -> tuple[str, str]:
        return self._codes[family]

    async def replay(self, family: str, dc: int) -> LoginRecord:
        """Fault: the site redeems the code that started ``family`` again, as if it had lost the
        answer; recorded as a sign-in like any other."""
        code, verifier = self._codes[family]
        record = LoginRecord(
            "sign_in", self.families[family].user, started=self._clock(), code=fingerprint(code)
        )
        record.code_dc = self._names[dc]
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
        try:
            tokens = await self._token(data, [dc], record.started + 10, record)
            record.ok, record.family, record.generation = True, family_of(tokens["refresh_token"]), 1
        except (Refused, Transient) as exc:
            record.error = exc.error
        record.finished = self._clock()
        self.records.append(record)
        return record

    async def revoke(self, family: str) -> None:
        """Fault: the family revoked behind the checker's back (RFC 7009 by the site's own secret)."""
        auth = httpx.BasicAuth(self.client_id, self.secret)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
            resp = await http.post(
                self._urls[0] + "/oauth/revoke",
                data={"token": self.families[family].refresh_token},
                auth=auth,
            )
        if resp.status_code != 200:
            raise FirebreakError(f"revoking {family}: {resp.status_code} {resp.text[:200]}")


async def _post_or_none(http: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response | None:
    try:
        return await http.post(url, **kw)
    except httpx.HTTPError:
        return None


def _why(resp: httpx.Response | None) -> str:
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
