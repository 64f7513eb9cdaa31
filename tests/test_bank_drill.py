"""Bank drills against real three-DC clusters: the wallet ledger's leader DC burned mid-run and
rebuilt passes every bank check, and a doubled or a lost transfer fails the verdict."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from firebreak.drill.bank_runner import BankDrill, BankResult
from firebreak.drill.plan import Disaster, DrillOptions, Fault
from firebreak.limits import Limits
from tests.helpers import cluster_config, sites_of

# Real drills (a fire and a rebuild each): the slow set, with the other long proofs.
pytestmark = pytest.mark.slow

BANK = DrillOptions(workload="bank", wallets=30, rate=30.0, duration_s=14.0, seed=5, max_transfer=400)


async def bank_drill(tmp_path: Path, options: DrillOptions) -> BankResult:
    # Cheap password hashes: every wallet registers and logs in (the drill is about money).
    limits = Limits(registrations_per_address=1_000_000, password_time_cost=1, password_memory_kib=1024)
    config = cluster_config(tmp_path / "cluster", limits=limits, gateways=options.gateways_per_dc)
    return await BankDrill(config, options, "pytest", lambda line: None, sites_of(config)).run_bank()


async def test_bank_survives_the_ledger_leaders_fire_and_rebuild(tmp_path: Path) -> None:
    options = replace_options(disasters=(Disaster("fire", 4, "leader"), Disaster("rebuild", 9, "")))
    result = await bank_drill(tmp_path, options)
    v = result.findings.verdict
    assert v.passed, (v, result.findings.examples)
    assert v.dcs_compared == ["dc1", "dc2", "dc3"]
    assert v.accepted > 100 and v.refused > 0 and v.reads > 20
    assert [m.label.split()[0] for m in result.marks] == ["fire", "rebuild"]
    assert all(t.balances == t.credited == 30 * BANK.initial_balance for t in result.findings.totals)


@pytest.mark.parametrize(("fault", "expect"), [("double", "unrequested"), ("lose", "lost")])
async def test_a_doubled_or_lost_transfer_fails_the_verdict(
    tmp_path: Path, fault: Fault, expect: str
) -> None:
    result = await bank_drill(tmp_path, replace_options(duration_s=4.0, wallets=10, inject_fault=fault))
    v = result.findings.verdict
    assert not v.passed and getattr(v, expect) >= 1, v


@pytest.mark.parametrize("fault", ["", "lose"])
async def test_every_gateway_process_is_checked(tmp_path: Path, fault: Fault) -> None:
    """With two gateway processes per DC the verdict reads all six read models: a transfer lost
    by the second process of a DC fails it."""
    options = replace_options(duration_s=4.0, wallets=10, gateways_per_dc=2, inject_fault=fault)
    v = (await bank_drill(tmp_path, options)).findings.verdict
    assert v.dcs_compared == ["dc1", "dc1#2", "dc2", "dc2#2", "dc3", "dc3#2"], v
    assert (v.passed, v.lost >= 1) == ((True, False) if not fault else (False, True)), v


def replace_options(**changes: object) -> DrillOptions:
    return msgspec.structs.replace(BANK, **changes)
