"""Partition drills on isolated DCs (slow set): the DC leading the most of the drill's rooms is cut off
under load and healed; nothing acknowledged is lost, the cut-off DC acknowledges nothing, and
the read models agree after the heal. The drill's injected fault still fails the verdict here."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from firebreak.drill.plan import Disaster, DrillOptions
from firebreak.drill.runner import Drill, DrillResult
from firebreak.localcluster import Sites, isolated_config
from firebreak.localcluster.netns import unavailable
from tests.test_drill import SMALL, assert_clean

_WHY_NOT = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")]


async def partition_drill(tmp_path: Path, options: DrillOptions) -> DrillResult:
    sites = Sites.plan(("dc1", "dc2", "dc3"))
    config = isolated_config(tmp_path / "cluster", sites, partitions=options.partitions)
    return await Drill(config, options, "pytest", lambda line: None, sites).run()


CUT_LEADER = (Disaster("partition", 4, "leader"), Disaster("heal", 12, ""))


async def test_the_leading_dc_cut_off_and_healed_loses_nothing_and_acknowledges_nothing(
    tmp_path: Path,
) -> None:
    result = await partition_drill(tmp_path, msgspec.structs.replace(SMALL, disasters=CUT_LEADER))
    assert_clean(result)
    assert [m.label.split()[0] for m in result.marks] == ["partition", "heal"]
    assert result.findings.verdict.minority_acks == 0
    cut = result.marks[0].dc
    assert result.back_at[cut] >= 12, "the healed DC serves again"


async def test_an_injected_fault_fails_a_partition_drill(tmp_path: Path) -> None:
    options = msgspec.structs.replace(SMALL, disasters=CUT_LEADER, inject_fault="forget")
    result = await partition_drill(tmp_path, options)
    v = result.findings.verdict
    assert not v.passed and not v.read_models_identical, v
