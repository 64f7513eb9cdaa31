"""`firebreak bench --workload pay` runs, produces well-formed figures and a passing ledger check
at every DC (no timing assertions: figures are recorded in docs/PAYMENTS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_pay_bench_produces_well_formed_results(tmp_path: Path) -> None:
    out = tmp_path / "pay.json"
    proc = subprocess.run(
        [sys.executable, "-m", "firebreak.entrypoints.cli", "bench", "--workload", "pay", "--wallets", "20",
         "--hot", "3", "--senders", "6", "--duration", "2", "--raw-messages", "300", "--json", str(out)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "transfers/s" in proc.stdout and "ledger check at every DC: ok" in proc.stdout
    r = json.loads(out.read_text())
    assert r["transfers"] > 0 and r["per_s"] > 0 and r["failed"] == 0 and r["ledger_ok"]
    assert [x["mode"].split(", ")[-1] for x in r["raw"]] == ["before", "after"]
    assert r["ratio_to_raw_pipelined"] > 0 and r["latency"]["p99_ms"] > 0
    assert len(r["totals"]) == 3 and all(t["balances"] == t["credited"] == 20 * 10**9 for t in r["totals"])


def test_pay_bench_refuses_bad_options() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "firebreak.entrypoints.cli", "bench", "--workload", "pay", "--hot", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "--hot" in proc.stderr
