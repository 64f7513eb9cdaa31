"""`firebreak bench --accounts N` runs and produces well-formed figures (no timing assertions: the
figures are in docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_accounts_bench_produces_well_formed_results(tmp_path: Path) -> None:
    out = tmp_path / "accounts.json"
    proc = subprocess.run(
        [sys.executable, "-m", "firebreak.entrypoints.cli", "bench", "--accounts", "12",
         "--account-concurrency", "4", "--raw-messages", "300", "--json", str(out)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "accounts/s" in proc.stdout and "CPU per account" in proc.stdout
    r = json.loads(out.read_text())
    assert r["accounts"] == 12 and r["concurrency"] == 4 and r["per_s"] > 0
    assert r["registration"]["count"] == 12 and r["login"]["count"] == 12
    assert r["raw"]["per_s"] > 0 and r["gateways_cpu_ms"] >= 0 and r["nats_cpu_ms"] >= 0


def test_accounts_bench_refuses_bad_options() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "firebreak.entrypoints.cli", "bench", "--accounts", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "--accounts" in proc.stderr
