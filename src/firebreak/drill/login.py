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
import random
from collections.abc import Callable

import httpx

from firebreak.config import Config
from firebreak.drill.login_records import (
    Family,
    FamilyProbe,
    LoginRecord,
    Refused,
    Transient,
    family_of,
    fingerprint,
)
from firebreak.drill.oidc_site import PASSWORD, REDIRECT, REQUEST_TIMEOUT_S, OidcSite, post_or_none, why_not
from firebreak.drill.plan import DrillOptions
from firebreak.drill.processes import every_process
from firebreak.errors import FirebreakError
from firebreak.tasks import stop_all


class LoginWorkload(OidcSite):
    def __init__(self, config: Config, options: DrillOptions, clock: Callable[[], float]) -> None:
        super().__init__(config, clock)
        self._config = config
        self._o = options
        self._rng = random.Random(options.seed)
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
        await stop_all(tasks)
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

    # ---- after the drill ----------------------------------------------------------------------

    async def probe(self, alive: list[int]) -> list[FamilyProbe]:
        """Checks every clean family's newest tokens at every serving DC, and at each of its gateway
        processes where it has several: introspection and userinfo at each, then a chain of
        refreshes, one at each."""
        probes: list[FamilyProbe] = []
        auth = httpx.BasicAuth(self.client_id, self.secret)
        processes = every_process(self._config.dcs[dc] for dc in alive)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
            for fam in self.families.values():
                if not fam.clean:
                    continue
                for name, url in processes:
                    resp = await post_or_none(
                        http, url + "/oauth/introspect", data={"token": fam.refresh_token}, auth=auth
                    )
                    active = resp is not None and resp.status_code == 200 and bool(resp.json().get("active"))
                    why = why_not(resp) or ("" if active else "inactive")
                    probes.append(FamilyProbe(fam.family, name, "introspect", active, why))
                    try:
                        resp = await http.get(
                            url + "/oauth/userinfo", headers={"authorization": f"Bearer {fam.access_token}"}
                        )
                    except httpx.HTTPError:
                        resp = None
                    ok = resp is not None and resp.status_code == 200
                    probes.append(FamilyProbe(fam.family, name, "userinfo", ok, why_not(resp)))
                for name, url in processes:
                    data = {"grant_type": "refresh_token", "refresh_token": fam.refresh_token}
                    resp = await post_or_none(http, url + "/oauth/token", data=data, auth=auth)
                    ok = resp is not None and resp.status_code == 200
                    if ok and resp is not None:
                        fam.refresh_token = resp.json()["refresh_token"]
                        fam.generation += 1
                    probes.append(FamilyProbe(fam.family, name, "refresh", ok, why_not(resp)))
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
