"""``firebreak bench --accounts N``: how fast accounts register and log in, all from one address.

What the many-connections bench spends most of its set-up on (a 100,000-socket run registers and
logs in 100,000 accounts first), and what a carrier's NAT puts through the attempt counters: every
registration and login from one address counts in the same counters (adapters/counters.py). ``N``
accounts register and log in through the API, ``concurrency`` at a time, spread over the DCs,
over the lean wire client (bench/wire.py), with the bench's low password-hashing cost
(docs/LIMITS.md); next to the raw JetStream rate measured in the same run (bench/raw.py), and the
CPU the gateways and the nats-servers used per account.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

import msgspec

from firebreak.bench.latency import Latency, latency
from firebreak.bench.procstats import sample
from firebreak.bench.raw import RawResult, raw_publish
from firebreak.bench.wire import HttpConnection, WireError
from firebreak.config import Config
from firebreak.localcluster import LocalCluster

PASSWORD = "bench password"


class AccountsResult(msgspec.Struct, frozen=True):
    started_at: str
    accounts: int
    concurrency: int
    seconds: float
    per_s: float
    registration: Latency
    login: Latency
    #: CPU milliseconds per account (its registration and its login), summed over the processes
    gateways_cpu_ms: float
    nats_cpu_ms: float
    raw: RawResult


async def run_accounts_bench(
    config: Config, accounts: int, concurrency: int, raw_messages: int, say: Callable[[str], None]
) -> AccountsResult:
    cluster = LocalCluster(config)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    say(f"starting a 3-DC cluster in {config.data_dir} ...")
    await cluster.start()
    try:
        raw = await raw_publish(config, messages=raw_messages, size=200, pipelined=True, when="before")
        say(f"  raw {raw.mode}: {raw.per_s:,.0f} msgs/s")
        gateways = [p.pid for p in [*cluster.gateways.values(), *cluster.more_gateways.values()]]
        nodes = [p.pid for p in cluster.nats.values()]

        def cpu(pids: list[int]) -> float:
            return sum(sample(pid).cpu_s for pid in pids)

        say(f"registering and logging in {accounts:,} accounts, {concurrency} at a time ...")
        before = cpu(gateways), cpu(nodes)
        started = time.perf_counter()
        registered, logged_in = await _sign_up(config, accounts, concurrency)
        took = time.perf_counter() - started
        gw_s, nats_s = cpu(gateways) - before[0], cpu(nodes) - before[1]
    finally:
        cluster.stop()
    return AccountsResult(
        started_at=started_at,
        accounts=accounts,
        concurrency=concurrency,
        seconds=round(took, 2),
        per_s=round(accounts / took, 1),
        registration=latency(registered),
        login=latency(logged_in),
        gateways_cpu_ms=round(gw_s * 1000 / accounts, 2),
        nats_cpu_ms=round(nats_s * 1000 / accounts, 2),
        raw=raw,
    )


async def _sign_up(config: Config, accounts: int, concurrency: int) -> tuple[list[float], list[float]]:
    """Each account registers and logs in at DC ``i mod DCs``; returns both calls' latencies."""
    tag = secrets.token_hex(2)
    opened: list[HttpConnection] = []
    pools: list[asyncio.Queue[HttpConnection]] = []
    gate = asyncio.Semaphore(concurrency)
    registered: list[float] = []
    logged_in: list[float] = []

    async def call(i: int, path: str, body: object, took: list[float]) -> None:
        conn = await pools[i].get()
        started = time.perf_counter()
        status, data = await conn.post(path, msgspec.json.encode(body))
        took.append(time.perf_counter() - started)
        pools[i].put_nowait(conn)  # not back in the pool after an error: the run ends with it
        if status >= 300:
            raise WireError(f"{path} at dc {i}: {status} {data[:300]!r}")

    async def one(k: int) -> None:
        i, name = k % len(pools), f"acct{tag}_{k}"
        async with gate:
            account = {"username": name, "password": PASSWORD, "request_id": name}
            await call(i, "/v1/accounts", account, registered)
            await call(i, "/v1/sessions", {"username": name, "password": PASSWORD}, logged_in)

    try:
        for dc in config.dcs:
            pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
            for _ in range(concurrency // len(config.dcs) + 1):
                opened.append(await HttpConnection(dc.host, dc.http_port).open())
                pool.put_nowait(opened[-1])
            pools.append(pool)
        async with asyncio.TaskGroup() as tasks:  # the first failure stops the others
            for k in range(accounts):
                tasks.create_task(one(k))
    finally:
        for conn in opened:
            conn.close()
    return registered, logged_in


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def accounts_table(r: AccountsResult) -> str:
    reg, login = r.registration, r.login
    return "\n".join(
        [
            f"accounts           {r.accounts:,} registered and logged in, {r.concurrency} at a time,"
            " one address",
            f"rate               {r.per_s:,.0f} accounts/s ({r.seconds:.1f} s); raw pipelined "
            f"{r.raw.per_s:,.0f} msgs/s",
            f"registration       p50 {_ms(reg.p50_ms)}, p99 {_ms(reg.p99_ms)}",
            f"login              p50 {_ms(login.p50_ms)}, p99 {_ms(login.p99_ms)}",
            f"CPU per account    gateways {r.gateways_cpu_ms:.2f} ms, nats-servers {r.nats_cpu_ms:.2f} ms",
        ]
    )
