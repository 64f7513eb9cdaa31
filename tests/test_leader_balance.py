"""Leader balance is the cluster's own job: three DCs started the three-site way (each site its own
nats-server and gateway, no supervisor) end up with stream leaders spread over them, and so does a
cluster whose busiest DC burned and was rebuilt. The gateways start before any node of the log is
up and wait for it instead of exiting."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from firebreak.adapters import leadership
from firebreak.config import Config
from firebreak.config_file import dump_config
from tests.helpers import cluster_config, eventually

NATS_SERVER = str(Path(sys.executable).parent / "nats-server")


class Site:
    """One DC run the way docs/CONFIG.md tells a site to run it: two processes of its own."""

    def __init__(self, config: Config, config_path: Path, name: str) -> None:
        self.config, self.config_path, self.name = config, config_path, name
        self.dir = config.data_dir / name
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, what: str, argv: list[str]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / f"{what}.log", "ab") as out:
            self.procs[what] = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)

    def start_gateway(self) -> None:
        cli = [sys.executable, "-m", "firebreak.entrypoints.cli"]
        self._spawn("gateway", [*cli, "gateway", "--dc", self.name, "--config", str(self.config_path)])

    def start_nats(self) -> None:
        cli = [sys.executable, "-m", "firebreak.entrypoints.cli"]
        conf = subprocess.run(
            [*cli, "nats-config", "--dc", self.name, "--config", str(self.config_path)],
            check=True,
            capture_output=True,
        ).stdout
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "nats.conf").write_bytes(conf)
        self._spawn("nats", [NATS_SERVER, "-c", str(self.dir / "nats.conf")])

    def kill(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[list[Site]]:
    config = cluster_config(tmp_path / "data")
    config.data_dir.mkdir(parents=True)
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    made = [Site(config, path, dc.name) for dc in config.dcs]
    try:
        yield made
    finally:
        for site in made:
            site.kill()


async def _health(site: Site) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=3) as http:
        answer: dict[str, object] = (await http.get(site.config.dc(site.name).http_url + "/healthz")).json()
        return answer


async def _all_ready(sites: list[Site]) -> bool:
    for site in sites:
        for what, proc in site.procs.items():
            assert proc.poll() is None, f"{site.name}'s {what} exited with {proc.returncode}"
        try:
            if not (await _health(site))["ready"]:
                return False
        except httpx.HTTPError:
            return False
    return True


async def _led(config: Config) -> Counter[str | None]:
    """Streams led per DC (None: no leader); empty while the log does not answer (an election)."""
    try:
        return Counter((await leadership.leaders(config)).values())
    except leadership.LEADERSHIP_ERRORS:
        return Counter()


async def _spread(config: Config) -> Counter[str | None]:
    """The leaders per DC once every stream has one and no DC leads more than its share."""
    led = await _led(config)
    streams, dcs = len(leadership.stream_names(config)), len(config.dcs)
    share = -(-streams // dcs)
    if None in led or len(led) < dcs or max(led.values()) > share:
        return Counter()
    return led


# Slow set: three sites of their own and a fire (~45 s).
@pytest.mark.slow
async def test_three_sites_spread_their_leaders_and_respread_after_a_fire(sites: list[Site]) -> None:
    config = sites[0].config
    # Gateways first: with no node of the log up they wait, and say so, instead of exiting.
    for site in sites:
        site.start_gateway()

    async def says_starting() -> bool:
        try:
            health = await _health(sites[0])
        except httpx.HTTPError:  # not listening yet
            return False
        return health["ready"] is False and "connecting to the log" in str(health["starting"])

    await eventually(says_starting, within_s=60, what="a gateway with no log to say it is starting")
    for site in sites:
        site.start_nats()
    await eventually(lambda: _all_ready(sites), within_s=120, what="every DC to serve")

    # Wherever the streams' creation put the leaders, pile them on dc1 and let the cluster act.
    await leadership.move(config, {s: "dc1" for s in leadership.stream_names(config)})
    await eventually(lambda: _spread(config), within_s=60, what="leaders spread over the three DCs")

    # Burn the DC holding the most leaders (processes and disks), rebuild it: spread again.
    led = await eventually(lambda: _led(config), what="the leaders")
    victim = next(s for s in sites if s.name == max(sorted(led, key=str), key=lambda dc: led[dc]))
    victim.kill()
    shutil.rmtree(victim.dir)
    victim.start_nats()
    victim.start_gateway()
    await eventually(lambda: _all_ready(sites), within_s=120, what="the rebuilt DC to serve")
    spread = await eventually(lambda: _spread(config), within_s=60, what="leaders spread again")
    assert spread[victim.name] >= 1, "the rebuilt DC leads again"
