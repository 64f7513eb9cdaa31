"""Links between DCs through fault-injecting proxies (localcluster/linkfaults.py, linkproxy.py,
links.py): the fault model on its own, then a real cluster whose every route passes the proxies,
whose links can be slowed down at run time, and cut and healed without root."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import httpx
import pytest

from firebreak.config_file import dump_config
from firebreak.localcluster import LocalCluster
from firebreak.localcluster.linkfaults import MIN_RTO_S, LinkFault, chunk_lost, release_at, retransmission_s
from tests.conftest import SHARED_LIMITS
from tests.helpers import cluster_config, eventually, local_cluster, read_until, run_cli, spawn_up, stop_up

# ---- the fault model (pure) ---------------------------------------------------------------------


def test_delay_and_jitter_never_reorder_a_stream() -> None:
    rng = random.Random(7)
    fault = LinkFault(delay_ms=20, jitter_ms=15)
    previous, out = 0.0, []
    for i in range(2000):
        read_at = i * 0.001  # a chunk every millisecond: jitter wider than the gap between chunks
        previous = release_at(fault, read_at, previous, 500, rng)
        out.append((read_at, previous))
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(out)), "a chunk overtook the one before"
    delays = [release - read for read, release in out]
    assert min(delays) >= 0.005 - 1e-9
    assert max(delays) <= 0.035 + 0.015  # jitter, plus waiting behind an earlier late chunk
    assert 0.018 < sum(delays) / len(delays) < 0.03


def test_a_perfect_link_adds_nothing() -> None:
    rng = random.Random(1)
    assert release_at(LinkFault(), 5.0, 0.0, 65536, rng) == 5.0


def test_loss_holds_a_chunk_back_a_retransmission_timeout() -> None:
    rng = random.Random(3)
    fault = LinkFault(delay_ms=5, loss=0.02)
    stalls = [release_at(fault, 0.0, 0.0, 1448, rng) - 0.005 for _ in range(20000)]
    lost = [s for s in stalls if s > 0.001]
    assert 0.015 < len(lost) / len(stalls) < 0.025
    assert all(abs(s - MIN_RTO_S) < 1e-9 for s in lost)
    # A long round trip makes the timeout longer than the minimum.
    assert retransmission_s(LinkFault(delay_ms=100)) > 2 * 0.1


def test_a_bigger_chunk_is_more_likely_to_lose_a_segment() -> None:
    rng = random.Random(5)
    fault = LinkFault(loss=0.01)
    small = sum(chunk_lost(fault, 1000, rng) for _ in range(20000)) / 20000
    big = sum(chunk_lost(fault, 45 * 1448, rng) for _ in range(20000)) / 20000
    assert 0.007 < small < 0.013
    assert 0.3 < big < 0.42  # 1 - 0.99**45 = 0.36


def test_bad_faults_are_refused() -> None:
    from firebreak.errors import BadRequest

    for bad in (LinkFault(delay_ms=-1), LinkFault(loss=0.9), LinkFault(jitter_ms=10_000)):
        with pytest.raises(BadRequest):
            bad.check()


# ---- a real cluster behind the proxies -----------------------------------------------------------


def _ms(duration: str) -> float:
    """A Go duration as /routez prints it (``1.234ms``, ``250µs``, ``1.5s``) in milliseconds."""
    m = re.fullmatch(r"([\d.]+)(ns|µs|us|ms|s)", duration)
    assert m, duration
    scale = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return float(m.group(1)) * scale


async def _routes(cluster: LocalCluster) -> dict[str, list[dict[str, object]]]:
    out = {}
    async with httpx.AsyncClient(timeout=5) as http:
        for dc in cluster.config.dcs:
            resp = await http.get(f"http://127.0.0.1:{dc.monitor_port}/routez")
            out[dc.name] = list(resp.json().get("routes") or [])
    return out


@pytest.mark.slow
async def test_every_route_passes_the_proxies_and_links_change_at_run_time(tmp_path: Path) -> None:
    cluster = local_cluster(cluster_config(tmp_path / "data", SHARED_LIMITS), links=LinkFault())
    links = cluster.links
    assert links is not None
    try:
        await cluster.start()
        cluster_ports = {dc.cluster_port for dc in cluster.config.dcs}
        proxy_ports = {
            int(hp.rsplit(":", 1)[1]) for dc in cluster.config.dcs for hp in links.routes(dc.name).values()
        }

        async def all_proxied() -> bool:
            routes = await _routes(cluster)
            outbound = set(links.status()["outbound_ports"])
            for dc, rs in routes.items():
                peers = {r["remote_name"] for r in rs}
                assert len(peers) == 2, f"{dc} has routes to {peers}"
                for r in rs:
                    port = int(str(r["port"]))
                    # The far end of a route is a proxy's port (this server dialled it) or the
                    # proxy's own side of a proxied connection (this server accepted it). A
                    # direct route shows a route port, or a dialler's port the proxies do not hold.
                    assert port not in cluster_ports, f"{dc} has a direct route: {r}"
                    assert port in proxy_ports | outbound, f"{dc} has a route not through a proxy: {r}"
            return True

        await eventually(all_proxied, within_s=30, what="every route to pass the proxies")
        carried = links.status()["carried"]
        assert all(carried.get(f"{a}>{b}", 0) > 0 for a, b in links.pairs), carried

        # Slow dc3's links (both ways): the route RTTs to dc3 show it, the others' do not.
        links.set_dc("dc3", LinkFault(delay_ms=60))

        async def rtts_show_it() -> bool:
            routes = await _routes(cluster)
            slow = [
                _ms(str(r["rtt"])) for dc, rs in routes.items() for r in rs if "dc3" in (dc, r["remote_name"])
            ]
            fast = [
                _ms(str(r["rtt"]))
                for dc, rs in routes.items()
                for r in rs
                if "dc3" not in (dc, r["remote_name"])
            ]
            return bool(slow) and min(slow) >= 115 and max(fast) < 60

        await eventually(rtts_show_it, within_s=30, what="route RTTs to show dc3's 120 ms round trip")

        # Cut dc3 off (no root needed): its routes go and stay gone; healed, they come back.
        links.set_dc("dc3", LinkFault(cut=True))

        async def dc3_alone() -> bool:
            routes = await _routes(cluster)
            return not routes["dc3"] and all(r["remote_name"] != "dc3" for r in routes["dc1"] + routes["dc2"])

        await eventually(dc3_alone, within_s=30, what="dc3's routes to go")
        links.set_dc("dc3", LinkFault())
        await eventually(all_proxied, within_s=60, what="dc3's routes to come back through the proxies")
    finally:
        cluster.stop()


@pytest.mark.slow
async def test_up_starts_slow_links_that_dc_link_changes_and_dc_cut_cuts_without_root(tmp_path: Path) -> None:
    config = cluster_config(tmp_path / "data")
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(config))
    proc = await spawn_up(path, "--link-delay-ms", "5", "--link-jitter-ms", "1", "--link-loss", "0.001")
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await read_until(proc.stdout, "ready.", 120, seen)
        code, out = await run_cli(
            "dc", "link", "dc3", "--delay-ms", "40", "--to", "dc1", "--config", str(path)
        )
        assert code == 0, out
        assert "dc1>dc3: delay 40 ms" in out and "dc3>dc1: delay 40 ms" in out, out
        assert "dc2>dc3: delay 5 ms, jitter 1 ms, loss 0.001" in out, out
        code, out = await run_cli("dc", "link", "dc3", "--loss", "0.9", "--config", str(path))
        assert code == 2 and "invalid_link" in out, out

        code, out = await run_cli("dc", "cut", "dc3", "--config", str(path))
        assert code == 0 and "links cut now: dc1-dc3, dc2-dc3" in out, out

        async def dc3_alone() -> bool:
            async with httpx.AsyncClient(timeout=5) as http:
                resp = await http.get(f"http://127.0.0.1:{config.dc('dc3').monitor_port}/routez")
            return not resp.json().get("routes")

        await eventually(dc3_alone, within_s=30, what="dc3's routes to go")
        code, out = await run_cli("dc", "heal", "dc3", "--config", str(path))
        assert code == 0 and "links cut now: none" in out and "dc1>dc3: delay 5 ms" in out, out
        await stop_up(proc)
        assert await proc.wait() == 0
    finally:
        await stop_up(proc)
