from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from firebreak.limits import Limits
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, clients_of, cluster_config, local_cluster

#: The shared cluster uses a small send limit so the rate-limit test can reach it quickly. Every
#: test registers from 127.0.0.1: the per-address registration throttle would stop the suite.
#: Every test reaches the shared cluster from 127.0.0.1: the per-address throttles (registrations,
#: failed logins: the API fuzzer makes hundreds) would make one test's attempts another's 429.
#: tests/test_throttle.py checks them on clusters of its own.
SHARED_LIMITS = Limits(
    send_rate_per_s=20.0,
    send_burst=60,
    registrations_per_address=1_000_000,
    login_failures_per_address=1_000_000,
    # Short enough for tests/test_oidc_negative.py to see a code expire.
    oidc_code_ttl_s=10,
)


@pytest.fixture(scope="session")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    """A real three-DC cluster (three nats-servers, three gateways), shared by the non-destructive tests."""
    data = Path(tmp_path_factory.mktemp("cluster"))
    local = local_cluster(cluster_config(data, SHARED_LIMITS))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture
async def make_client(cluster: LocalCluster) -> AsyncIterator[ClientFactory]:
    """Makes clients that know every DC and prefer the given one; closes them after the test."""
    async with clients_of(cluster) as make:
        yield make


#: Debian's chromium (never a browser Playwright downloads), with the flags this closed network needs.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

HAVE_CHROMIUM = Path(CHROMIUM).exists()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """A real headless browser for tests of what a person sees."""
    assert HAVE_CHROMIUM, "Debian's chromium is needed: ./run-tests installs it (as root)"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        await b.close()


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays a retry waits (retry.py), recorded instead of waited."""
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return delays
