"""The port-search tool runs end to end at a small size, prints one well-formed line per step in
either mode, and refuses sizes it does not measure with a clear message."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

LINE = re.compile(r"^\s*([\d,]+) sockets:\s+\d+ µs CPU per connection \(kernel \d+\), \d+ µs wall$")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firebreak.bench.port_search", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("mode", ["bind", "no-port"])
def test_one_line_per_step(mode: str) -> None:
    done = _run("--sockets", "600", "--step", "200", "--sources", "2", "--mode", mode, "--timeout", "60")
    assert done.returncode == 0, done.stderr
    header, *lines, footer = done.stdout.splitlines()
    assert header == f"600 connections from 2 source addresses, --mode {mode}"
    counts = [m.group(1) if (m := LINE.match(line)) else line for line in lines]
    assert counts == ["200", "400", "600"], done.stdout
    assert footer == "600 of 600 connections accepted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sockets", "250", "--step", "200"], "--sockets takes a multiple of --step"),
        (["--sockets", "200", "--step", "50"], "--step takes 100-10,000"),
        (["--sockets", "200000"], "--sockets takes a multiple of --step (10,000) up to 100,000"),
        (["--sources", "1"], "--sources takes 2-"),
    ],
)
def test_sizes_it_does_not_measure_are_refused(args: list[str], message: str) -> None:
    done = _run(*args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "connections from" not in done.stdout
