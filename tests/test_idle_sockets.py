"""``python -m firebreak.bench.idle_sockets`` (what an idle live socket costs, pings on or off)
runs a tiny workload to the end and prints well-formed lines (no timing assertions)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

BENCH = [sys.executable, "-m", "firebreak.bench.idle_sockets"]
SET_UP = r"\s+40 open: +[\d,]+/s, CPU per socket: server [\d.]+ ms, client [\d.]+ ms"
IDLE = r"idle over 1 s: server [\d.]+ µs, client [\d.]+ µs per socket per second"


@pytest.mark.parametrize("ping_s", ["0.5", "0"])
def test_a_tiny_run_prints_set_up_and_idle_lines(ping_s: str) -> None:
    options = ["--sockets", "40", "--ping-s", ping_s, "--window-s", "1", "--windows", "2", "--timeout", "60"]
    run = subprocess.run([*BENCH, *options], capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"40 sockets, pings {'off' if ping_s == '0' else 'every 0.5 s'}"
    assert re.fullmatch(SET_UP, lines[1]), lines
    assert len(lines) == 4 and all(re.fullmatch(IDLE, line) for line in lines[2:]), lines


def test_bad_options_are_refused() -> None:
    run = subprocess.run([*BENCH, "--sockets", "0"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "--sockets takes 1-19,000" in run.stderr
