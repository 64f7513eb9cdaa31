"""Short fire drills against real three-DC clusters, and proof that the checker catches faults."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import msgspec
import pytest

from firebreak.drill.plan import Disaster, DrillOptions
from firebreak.drill.runner import Drill, DrillResult
from tests.helpers import cluster_config, sites_of

# Real drills, each a cluster with fires and rebuilds: the slow set, with the other long proofs.
pytestmark = pytest.mark.slow

SMALL = DrillOptions(
    users=9, group_rooms=2, room_size=4, direct_rooms=4, second_devices=2, rate=15.0, duration_s=14.0, seed=7
)


async def drill(tmp_path: Path, options: DrillOptions) -> DrillResult:
    config = cluster_config(tmp_path / "cluster", partitions=options.partitions)
    return await Drill(config, options, "pytest", lambda line: None, sites_of(config)).run()


FAULTS = (
    "lost", "duplicated", "out_of_order", "never_sent", "sender_order_broken", "order_mismatch_rooms",
    "missing_deliveries", "duplicate_deliveries", "wrong_position", "read_failures",
)  # fmt: skip


def assert_clean(result: DrillResult, compared: tuple[str, ...] = ("dc1", "dc2", "dc3")) -> None:
    v = result.findings.verdict
    faults = {k: getattr(v, k) for k in FAULTS}
    assert faults == dict.fromkeys(faults, 0), (faults, result.findings.examples)
    assert v.read_models_identical and v.dcs_compared == list(compared)
    assert v.passed
    assert v.acked > 100 and v.read_probes > 0


def with_disasters(*disasters: Disaster, **changes: object) -> DrillOptions:
    return msgspec.structs.replace(SMALL, disasters=disasters, **changes)


async def test_fire_on_the_leader_then_rebuild(tmp_path: Path) -> None:
    result = await drill(tmp_path, with_disasters(Disaster("fire", 4, "leader"), Disaster("rebuild", 9, "")))
    assert_clean(result)
    assert [m.label.split()[0] for m in result.marks] == ["fire", "rebuild"]
    burned = result.marks[0].dc
    assert burned in result.back_at and result.back_at[burned] > 9
    assert result.findings.verdict.failed == 0, result.findings.errors
    # The uploaders' files (docs/FILES.md): every acknowledged one, byte for byte at every DC,
    # the burned and rebuilt one included.
    v = result.findings.verdict
    assert v.files_acked > 0 and v.files_dcs_checked == ["dc1", "dc2", "dc3"]
    assert (v.files_lost, v.files_differing) == (0, 0), result.findings.examples


async def test_fire_and_rebuild_with_two_gateway_processes_per_dc(tmp_path: Path) -> None:
    """Every process of the burned DC dies with it and comes back with the rebuild; the verdict
    compares all six read models, each read at its process's own port."""
    options = with_disasters(Disaster("fire", 4, "leader"), Disaster("rebuild", 9, ""), gateways_per_dc=2)
    config = cluster_config(tmp_path / "cluster", partitions=options.partitions, gateways=2)
    result = await Drill(config, options, "pytest", lambda line: None, sites_of(config)).run()
    assert_clean(result, ("dc1", "dc1#2", "dc2", "dc2#2", "dc3", "dc3#2"))
    assert [m.label.split()[0] for m in result.marks] == ["fire", "rebuild"]


async def test_fire_on_another_dc(tmp_path: Path) -> None:
    result = await drill(tmp_path, with_disasters(Disaster("fire", 4, "other"), Disaster("rebuild", 9, "")))
    assert_clean(result)


async def test_evacuate_then_fire(tmp_path: Path) -> None:
    options = with_disasters(Disaster("evacuate", 4, "leader"), Disaster("rebuild", 9, ""))
    result = await drill(tmp_path, options)
    assert_clean(result)
    assert [m.label.split()[0] for m in result.marks] == ["evacuate", "fire", "rebuild"]


async def test_double_fire_fails_writes_cleanly_and_keeps_reads(tmp_path: Path) -> None:
    # No quorum for longer than the gateway's 12 s write deadline: sends in that window must fail
    # with a clear error, never be acknowledged and then lost; reads keep working on the survivor.
    options = with_disasters(
        Disaster("double_fire", 3, "leader"),
        Disaster("rebuild", 18, ""),
        duration_s=22.0,
        send_deadline_s=5.0,
    )
    result = await drill(tmp_path, options)
    assert_clean(result)
    v = result.findings.verdict
    assert v.failed > 0, "some sends fell in the window without quorum"
    # Each a 503 or no answer at all, as the send deadline found it: no quorum, the survivor knowing
    # it is cut off, a burned DC, or a rebuilt one still connecting or still catching up on the log
    # (it refuses as clearly as one starting, so the client tries another DC).
    clean = {"log_unavailable", "dc_cut_off", "unreachable", "dc_starting", "dc_catching_up"}
    assert set(result.findings.errors) <= clean, result.findings.errors
    assert "from" in result.marks[1].label, "the first rebuild is seeded from the survivor"


def test_the_checker_catches_injected_faults(tmp_path: Path) -> None:
    """Through the real command: a phantom message, a forgotten one and a forgotten file must fail
    the verdict."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    for fault, expect in (("phantom", "never_sent"), ("forget", "lost"), ("forget_file", "files_lost")):
        report_dir = tmp_path / fault
        # One drill keeps its cluster files where asked; the other uses a temporary directory,
        # which must be gone afterwards.
        data = ["--data-dir", str(tmp_path / f"data-{fault}")] if fault == "phantom" else []
        proc, err = asyncio.run(_run_cli(
            "drill", "--scenario", "none", "--duration", "5", "--users", "6", "--group-rooms", "1",
            "--direct-rooms", "2", "--rate", "10", "--inject-fault", fault, "--report", str(report_dir),
            *data, env={**os.environ, "TMPDIR": str(temp)},
        ))  # fmt: skip
        assert proc == 1, f"{fault}: the drill must exit 1 (verdict failed), got {proc}:\n{err}"
        assert list(temp.iterdir()) == [], "a drill removes its temporary cluster files"
        assert not data or (tmp_path / f"data-{fault}" / "dc1").is_dir(), "--data-dir is kept"
        doc = json.loads((report_dir / "report.json").read_text())
        verdict = doc["verdict"]
        assert verdict["passed"] is False and verdict[expect] >= 1, verdict
        if fault == "forget":
            assert verdict["read_models_identical"] is False
        if fault == "forget_file":
            assert verdict["files_acked"] > 0 and verdict["lost"] == 0, verdict
        page = (report_dir / "report.html").read_text()
        assert "FAILED" in page and doc["summary"].split(";")[0] in page


async def _run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and the end of stderr (to explain an unexpected exit)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firebreak.entrypoints.cli", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 180)
    return proc.returncode or 0, err.decode(errors="replace")[-3000:]
