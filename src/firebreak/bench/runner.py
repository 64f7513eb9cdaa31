"""``firebreak bench``: one fresh cluster, the raw JetStream limit, then Firebreak end to end."""

from __future__ import annotations

import os
import platform
import secrets
import subprocess
import time
from collections.abc import Callable

import msgspec

from firebreak.adapters.leadership import CAUGHT_UP_LAG
from firebreak.bench.follower_lag import FollowerLag, FollowerLagSampler
from firebreak.bench.live_sockets import CONNECT_CONCURRENCY
from firebreak.bench.load import Load
from firebreak.bench.load_shapes import BenchOptions, LoadResult
from firebreak.bench.procstats import ProcSample, sample
from firebreak.bench.raw import RawResult, raw_publish
from firebreak.config import Config
from firebreak.localcluster import LocalCluster
from firebreak.localcluster.linkfaults import LinkFault
from firebreak.localcluster.processes import gateway_log
from firebreak.service.balancer import MOVING


class ProcessCost(msgspec.Struct, frozen=True):
    cpu_s: float
    cpu_ms_per_message: float
    peak_rss_mb: float


class BenchResult(msgspec.Struct, frozen=True):
    options: BenchOptions
    started_at: str
    machine: str
    raw: list[RawResult]
    firebreak: LoadResult
    #: Firebreak's end-to-end sends per second over the raw pipelined JetStream publishes per
    #: second, the mean of the runs before and after the Firebreak phase (this VM's speed drifts by
    #: tens of percent within minutes: one raw run alone made the ratio swing by as much)
    ratio_to_raw_pipelined: float
    processes: dict[str, ProcessCost]
    #: Stream leaders the cluster's balancer moved between the cluster's start and the end of the
    #: sends: each stalls its stream for a moment, so a run with any is not a clean measurement.
    leader_moves: int = 0
    #: How far followers trailed their leaders during the sends (bench/follower_lag.py).
    follower_lag: FollowerLag | None = None


def _leader_moves(cluster: LocalCluster) -> int:
    """The leader moves logged so far by the balancer (run by each DC's first gateway process)."""
    moves = 0
    for dc in cluster.config.dcs:
        try:
            with open(cluster.dc_dir(dc.name) / f"{gateway_log(1)}.log", errors="replace") as log:
                moves += sum(MOVING in line for line in log)
        except OSError:
            pass  # not logged to a file (a cluster that is not quiet): nothing to count
    return moves


def _costs(
    before: dict[str, ProcSample], after: dict[str, ProcSample], messages: int
) -> dict[str, ProcessCost]:
    out = {}
    for name, end in after.items():
        cpu = end.cpu_s - before[name].cpu_s
        out[name] = ProcessCost(
            round(cpu, 2), round(cpu * 1000 / max(1, messages), 3), round(end.peak_rss_mb, 1)
        )
    return out


async def run_bench(config: Config, options: BenchOptions, say: Callable[[str], None]) -> BenchResult:
    links = LinkFault(delay_ms=options.link_delay_ms) if options.link_delay_ms else None
    cluster = LocalCluster(config, links=links)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    say(f"starting a 3-DC cluster in {config.data_dir} ...")
    await cluster.start()
    moves_at_start = _leader_moves(cluster)

    def all_gateways() -> dict[str, subprocess.Popen[bytes]]:
        return {**cluster.gateways, **cluster.more_gateways}

    def cpu() -> tuple[float, float]:
        gateways = sum(sample(p.pid).cpu_s for p in all_gateways().values())
        return gateways, sample(None).cpu_s + sum(sample(pid).cpu_s for pid in load.listener_pids)

    load = Load(config, options, say, cpu)
    try:
        say(f"raw JetStream: {options.raw_messages} pipelined, {options.raw_sequential} one at a time ...")
        raw = [
            await raw_publish(
                config,
                messages=options.raw_messages,
                size=options.message_size,
                pipelined=True,
                when="before",
            ),
            await raw_publish(
                config, messages=options.raw_sequential, size=options.message_size, pipelined=False
            ),
        ]
        for r in raw:
            say(f"  raw {r.mode}: {r.per_s:,.0f} msgs/s")
        say(f"setting up {options.rooms} rooms of {options.room_size} ...")
        await load.setup(secrets.token_hex(2))

        def pids() -> dict[str, int | None]:
            named: dict[str, int | None] = {f"gateway {n}": p.pid for n, p in all_gateways().items()}
            named.update({f"nats-server {n}": p.pid for n, p in cluster.nats.items()})
            named["load generator"] = None
            named.update({f"load listener {i + 1}": pid for i, pid in enumerate(load.listener_pids)})
            return named

        before = {name: sample(pid) for name, pid in pids().items()}
        say(f"sending for {options.duration_s:.0f} s ...")
        lag = FollowerLagSampler(config)
        lag.start()
        try:
            result = await load.run()
        finally:
            follower_lag = await lag.stop()
        after = {name: sample(pid) for name, pid in pids().items()}
        leader_moves = _leader_moves(cluster) - moves_at_start
        say(f"  leader moves by the balancer during set-up and sends: {leader_moves}")
        raw.append(
            await raw_publish(
                config, messages=options.raw_messages, size=options.message_size, pipelined=True, when="after"
            )
        )
        say(f"  raw {raw[-1].mode}: {raw[-1].per_s:,.0f} msgs/s")
    finally:
        await load.close()
        cluster.stop()
    raw_rate = (raw[0].per_s + raw[-1].per_s) / 2
    ratio = result.per_s / raw_rate if raw_rate else 0.0
    return BenchResult(
        options=options,
        started_at=started_at,
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        raw=raw,
        firebreak=result,
        ratio_to_raw_pipelined=round(ratio, 3),
        processes=_costs(before, after, result.messages),
        leader_moves=leader_moves,
        follower_lag=follower_lag,
    )


def _links(options: BenchOptions) -> str:
    if not options.link_delay_ms:
        return "direct (loopback)"
    rtt = 2 * options.link_delay_ms
    return f"{options.link_delay_ms:g} ms one way (RTT {rtt:g} ms) through the link proxies"


def table(result: BenchResult) -> str:
    f = result.firebreak
    lines = [
        f"rooms {result.options.rooms} x {result.options.room_size} members, {f.online_clients} online "
        f"(from {f.source_addresses} source addresses), "
        f"{result.options.message_size} B messages ({result.options.text}), "
        f"{result.options.batch} per request, "
        f"sent over {result.options.send_over}"
        + (
            ""
            if result.options.heartbeat_s is None
            else f", heartbeat every {result.options.heartbeat_s} s asked"
        ),
        f"{'firebreak sends/s':28} {f.per_s:>10,.1f}   ({f.messages} in {f.seconds:.1f} s)",
        f"{'deliveries/s':28} {f.deliveries_per_s:>10,.1f}",
        f"{'live sockets opened/s':28} {f.connects_per_s:>10,.1f}   (connect to ready, up to "
        f"{CONNECT_CONCURRENCY} at a time; CPU per socket: gateways {f.connect_cpu_ms_gateways} ms, "
        f"load generator {f.connect_cpu_ms_load} ms)",
    ]
    for r in result.raw:
        lines.append(f"{'raw JetStream':28} {r.per_s:>10,.1f}   ({r.mode})")
    lines.append(f"{'ratio to raw pipelined (mean)':28} {result.ratio_to_raw_pipelined:>10.3f}")
    for name, lat in (("send -> ack", f.send_to_ack), ("send -> all delivered", f.send_to_all_delivered)):
        lines.append(
            f"{name:28} p50 {lat.p50_ms} ms  p95 {lat.p95_ms} ms  p99 {lat.p99_ms} ms  p99.9 {lat.p999_ms} ms"
        )
    lines.append(f"undelivered messages: {f.undelivered_messages}")
    lines.append(f"leader moves during set-up and sends: {result.leader_moves}")
    if (lag := result.follower_lag) is not None:
        lines.append(
            f"followers' lag during the sends: p99 {lag.p99_lag}, max {lag.max_lag} entries"
            f" ({lag.max_lag_stream}); {lag.not_current:.1%} of {lag.samples} samples not current,"
            f" {lag.over_limit:.2%} over the balancer's limit of {CAUGHT_UP_LAG}"
        )
    for name, cost in result.processes.items():
        lines.append(
            f"  {name:22} cpu {cost.cpu_s:7.2f} s  {cost.cpu_ms_per_message:7.3f} ms/msg  "
            f"peak {cost.peak_rss_mb:7.1f} MB"
        )
    return "\n".join(lines)
