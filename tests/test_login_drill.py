"""Login drills against real three-DC clusters: a fire on the DC leading the provider's KV bucket,
then its rebuild, passes (every acknowledged token family still works at every DC); a family
revoked behind the checker's back, or a code redeemed a second time, fails the verdict."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from firebreak.adapters import leadership
from firebreak.adapters.oidc_store import OIDC_BUCKET
from firebreak.drill.login_runner import LoginDrill, LoginResult
from firebreak.drill.plan import Disaster, DrillOptions, Fault
from firebreak.limits import Limits
from tests.helpers import cluster_config, sites_of

LOGIN = DrillOptions(workload="login", login_users=12, rate=4.0, duration_s=16.0, seed=7)


class Watched(LoginDrill):
    """Notes which DC led the provider's bucket when the fire was picked."""

    picked_leader: str | None = None
    bucket_leader: str | None = None

    async def _pick(self, which: str, exclude: tuple[str, ...] = ()) -> str:
        dc = await super()._pick(which, exclude)
        if which == "leader":
            self.picked_leader = dc
            self.bucket_leader = (await leadership.leaders(self._config)).get(f"KV_{OIDC_BUCKET}")
        return dc


async def login_drill(tmp_path: Path, options: DrillOptions) -> tuple[LoginResult, Watched]:
    limits = Limits(registrations_per_address=1_000_000, password_time_cost=1, password_memory_kib=1024)
    config = cluster_config(tmp_path / "cluster", limits=limits, gateways=options.gateways_per_dc)
    drill = Watched(config, options, "pytest", lambda line: None, sites_of(config))
    return await drill.run_login(), drill


@pytest.mark.slow
async def test_sign_ins_and_refreshes_survive_the_provider_leaders_fire(tmp_path: Path) -> None:
    options = msgspec.structs.replace(
        LOGIN, disasters=(Disaster("fire", 4, "leader"), Disaster("rebuild", 9, ""))
    )
    result, drill = await login_drill(tmp_path, options)
    v = result.findings.verdict
    assert v.passed, (v, result.findings.examples, result.findings.errors)
    assert drill.picked_leader == drill.bucket_leader is not None
    assert v.dcs_checked == ["dc1", "dc2", "dc3"]
    assert v.sign_ins > 10 and v.refreshes > 10 and v.families_checked > 5
    assert [p.label.split()[0] for p in result.findings.phases] == ["before", "after", "after"]
    # Every acknowledged sign-in had its code exchanged at another DC than the issuer's.
    assert all(r.dc != r.code_dc for r in result.records if r.kind == "sign_in" and r.ok)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["forget_family", "replay_code"])
async def test_a_revoked_family_or_a_replayed_code_fails_the_verdict(tmp_path: Path, fault: Fault) -> None:
    result, _ = await login_drill(
        tmp_path, msgspec.structs.replace(LOGIN, duration_s=3.0, inject_fault=fault)
    )
    v = result.findings.verdict
    assert not v.passed and v.lost_families == 1, v
    assert v.families_checked > 1


@pytest.mark.slow
async def test_every_gateway_process_is_checked(tmp_path: Path) -> None:
    """With two gateway processes per DC the end checks go to each, at its own port."""
    options = msgspec.structs.replace(LOGIN, duration_s=6.0, gateways_per_dc=2)
    result, _ = await login_drill(tmp_path, options)
    v = result.findings.verdict
    assert v.passed, (v, result.findings.examples, result.findings.errors)
    assert v.dcs_checked == ["dc1", "dc1#2", "dc2", "dc2#2", "dc3", "dc3#2"], v
    assert v.families_checked > 0, v
