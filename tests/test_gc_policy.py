"""The gateway's garbage-collector settings (entrypoints/gateway/gc_policy.py), in a process of
their own so that this test process keeps its defaults."""

from __future__ import annotations

import subprocess
import sys

from firebreak.entrypoints.gateway.gc_policy import THRESHOLDS

PROBE = """
import gc
from firebreak.entrypoints.gateway import gc_policy
kept = [[] for _ in range(1000)]
gc_policy.settle()
print(gc.get_threshold(), gc.get_freeze_count() >= 1000)
"""


def test_settle_sets_startup_aside_and_makes_full_collections_rare() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{THRESHOLDS} True"
