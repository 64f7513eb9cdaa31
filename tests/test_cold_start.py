"""A cold start never fails: three DCs started on empty data folders, again and again, while two
CPU-burning processes compete for this machine's cores, all come up and serve."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import cluster_config, local_cluster

pytestmark = pytest.mark.slow

STARTS = 20
#: Each burner stops by itself after this long, whatever happens to the test.
BURN_S = 1800


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Two processes that spin on the CPU (one per core here) for the length of the test."""
    spin = f"import time\nend = time.monotonic() + {BURN_S}\nwhile time.monotonic() < end: pass"
    burners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
    try:
        yield
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()


@pytest.mark.usefixtures("busy_machine")
async def test_twenty_cold_starts_on_a_busy_machine_all_succeed(tmp_path: Path) -> None:
    took: list[float] = []
    for i in range(STARTS):
        cluster = local_cluster(cluster_config(tmp_path / f"start-{i}"))
        began = time.monotonic()
        try:
            await cluster.start(within_s=300)
            took.append(time.monotonic() - began)
            async with httpx.AsyncClient(timeout=30) as http:
                for n, dc in enumerate(cluster.config.dcs):
                    body = {"username": f"user{n}", "password": "a long password", "request_id": f"r{n}"}
                    resp = await http.post(dc.http_url + "/v1/accounts", json=body)
                    assert resp.status_code == 201, f"start {i}: {dc.name} answered {resp.text}"
        finally:
            cluster.stop()
    took.sort()
    median = took[len(took) // 2]
    print(f"cold starts: {len(took)}; seconds min/median/max {took[0]:.1f}/{median:.1f}/{took[-1]:.1f}")
