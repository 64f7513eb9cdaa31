"""Runs a login drill (``firebreak drill --workload login``): a fresh local cluster, the login
workload (drill/login.py), the disasters on schedule (as in runner.py), then the checks of every
acknowledged token family at every serving DC (drill/login_checker.py)."""

from __future__ import annotations

import asyncio
import time

import httpx
import msgspec

from firebreak.adapters.oidc_store import OIDC_BUCKET
from firebreak.drill.login import LoginWorkload
from firebreak.drill.login_checker import LoginFindings, check
from firebreak.drill.login_records import FamilyProbe, LoginRecord
from firebreak.drill.plan import DrillOptions
from firebreak.drill.processes import every_process
from firebreak.drill.record import Mark
from firebreak.drill.runner import Drill
from firebreak.tasks import cancel_all


class LoginResult(msgspec.Struct):
    options: DrillOptions
    command: str
    started_at: str
    dcs: list[str]
    marks: list[Mark]
    findings: LoginFindings
    back_at: dict[str, float]
    elapsed_s: float
    records: list[LoginRecord]
    probes: list[FamilyProbe]


class LoginDrill(Drill):
    leader_stream = f"KV_{OIDC_BUCKET}"

    async def run_login(self) -> LoginResult:
        started_at, wall = await self._start_cluster()
        workload = LoginWorkload(self._config, self._o, self.clock)
        try:
            self._say(f"registering a site and {self._o.login_users} users ...")
            await workload.setup()
            side = self._start_disasters()
            progress = asyncio.create_task(self._login_progress(workload))
            await workload.run(asyncio.Event())
            end = self.clock()
            self.phase = "settling"
            for task in side:
                await task
            await cancel_all([progress])
            alive = [i for i, d in enumerate(self._config.dcs) if d.name in self._alive()]
            await self._wait_serving(alive)
            if self._o.inject_fault == "forget_family":
                fam = workload.clean_family()
                await workload.revoke(fam.family)
                self._say(f"injected fault: family {fam.family} revoked behind the checker's back")
            elif self._o.inject_fault == "replay_code":
                fam = workload.clean_family()
                replayed = await workload.replay(fam.family, alive[-1])
                self._say(
                    f"injected fault: family {fam.family}'s code redeemed again: {replayed.error or 'ok'}"
                )
            self._say("checking every acknowledged family at every serving DC ...")
            probes = await workload.probe(alive)
            findings = check(records=workload.records, probes=probes, marks=self.marks, end=end)
        finally:
            self._cluster.stop()
        return LoginResult(
            options=self._o,
            command=self._command,
            started_at=started_at,
            dcs=[d.name for d in self._config.dcs],
            marks=self.marks,
            findings=findings,
            back_at=self.back_at,
            elapsed_s=round(time.monotonic() - wall, 1),
            records=workload.records,
            probes=probes,
        )

    async def _wait_serving(self, alive: list[int]) -> None:
        """Waits (bounded by settle_s) until each serving DC's provider answers its discovery, at
        each of its gateway processes where it has several (the end checks ask each)."""
        end = time.monotonic() + self._o.settle_s
        async with httpx.AsyncClient(timeout=5) as http:
            for _, base in every_process(self._config.dcs[i] for i in alive):
                url = base + "/.well-known/openid-configuration"
                while time.monotonic() < end:
                    try:
                        if (await http.get(url)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.5)

    async def _login_progress(self, workload: LoginWorkload) -> None:
        while True:
            await asyncio.sleep(1.0)
            done = [r for r in workload.records if r.finished]
            ok = sum(1 for r in done if r.ok)
            self._say(
                f"[{self.clock():6.1f}s] {self.phase:28} attempts {len(workload.records):5} "
                f"answered {len(done):5} ok {ok:5} families {len(workload.families):5}"
            )
