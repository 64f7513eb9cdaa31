"""``firebreak bench --workload pay``: wallet transfers per second and their latency through the
real API, next to the raw JetStream rate measured in the same run (bench/raw.py).

``wallets`` users are registered and funded by the faucet (enough that no transfer is refused for
want of funds). ``senders`` closed loops, spread over the DCs, each pick a payer and a payee
(distinct) uniformly among all wallets, or among the first ``hot`` wallets only (heavy contention:
every transfer debits one of a few wallets), and transfer 1 unit, again as soon as the last one
is answered, for ``duration_s``. At the end every DC's ledger check must hold.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable

import httpx
import msgspec

from firebreak.bench.latency import Latency, latency
from firebreak.bench.raw import RawResult, raw_publish
from firebreak.bench.wire import HttpConnection
from firebreak.config import Config
from firebreak.localcluster import LocalCluster
from firebreak.wire.wallet_views import LedgerTotals

PASSWORD = "bench password"


class PayOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    wallets: int = 1000
    #: 0: uniform pairs over all wallets; N: payers and payees among the first N wallets only.
    hot: int = 0
    senders: int = 48
    duration_s: float = 10.0
    raw_messages: int = 20_000
    initial_balance: int = 10**9


class PayResult(msgspec.Struct, frozen=True):
    options: PayOptions
    started_at: str
    transfers: int
    seconds: float
    per_s: float
    latency: Latency
    refused: int
    failed: int
    raw: list[RawResult]
    #: transfers/s over the raw pipelined publishes/s (mean of before and after)
    ratio_to_raw_pipelined: float
    totals: list[LedgerTotals]
    ledger_ok: bool


async def run_pay_bench(config: Config, options: PayOptions, say: Callable[[str], None]) -> PayResult:
    cluster = LocalCluster(config)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    say(f"starting a 3-DC cluster in {config.data_dir} ...")
    await cluster.start()
    try:
        raw = [
            await raw_publish(config, messages=options.raw_messages, size=200, pipelined=True, when="before")
        ]
        say(f"  raw {raw[0].mode}: {raw[0].per_s:,.0f} msgs/s")
        say(f"setting up {options.wallets} wallets ...")
        names, tokens = await _setup(config, options)
        say(f"transferring for {options.duration_s:.0f} s from {options.senders} senders ...")
        took, ok, refused, failed = await _transfer(config, options, names, tokens)
        raw.append(
            await raw_publish(config, messages=options.raw_messages, size=200, pipelined=True, when="after")
        )
        say(f"  raw {raw[-1].mode}: {raw[-1].per_s:,.0f} msgs/s")
        totals = await _totals(config)
    finally:
        cluster.stop()
    per_s = len(ok) / took
    raw_rate = (raw[0].per_s + raw[-1].per_s) / 2
    return PayResult(
        options=options,
        started_at=started_at,
        transfers=len(ok),
        seconds=round(took, 2),
        per_s=round(per_s, 1),
        latency=latency(ok),
        refused=refused,
        failed=failed,
        raw=raw,
        ratio_to_raw_pipelined=round(per_s / raw_rate, 3) if raw_rate else 0.0,
        totals=totals,
        ledger_ok=all(t.balances == t.credited and t.lowest >= 0 for t in totals)
        and len({t.position for t in totals}) == 1,
    )


async def _setup(config: Config, options: PayOptions) -> tuple[list[str], list[str]]:
    urls = [d.http_url for d in config.dcs]
    tag = secrets.token_hex(2)
    names = [f"pay{tag}_{i}" for i in range(options.wallets)]
    tokens = [""] * options.wallets
    gate = asyncio.Semaphore(32)
    ops = {"x-ops-token": config.secrets.ops_token}
    async with httpx.AsyncClient(timeout=60) as http:

        async def one(i: int) -> None:
            url = urls[i % len(urls)]
            async with gate:
                account = {"username": names[i], "password": PASSWORD, "request_id": "r"}
                (await http.post(url + "/v1/accounts", json=account)).raise_for_status()
                login = await http.post(
                    url + "/v1/sessions", json={"username": names[i], "password": PASSWORD}
                )
                tokens[i] = login.raise_for_status().json()["token"]
                credit = {"username": names[i], "amount": options.initial_balance, "request_id": "seed"}
                (
                    await http.post(url + "/internal/wallet/faucet", json=credit, headers=ops)
                ).raise_for_status()

        await asyncio.gather(*(one(i) for i in range(options.wallets)))
    return names, tokens


async def _transfer(
    config: Config, options: PayOptions, names: list[str], tokens: list[str]
) -> tuple[float, list[float], int, int]:
    """Runs the closed loops; returns (seconds, latencies of accepted transfers, refused, failed)."""
    pool = options.hot or options.wallets
    rng = random.Random(1)
    ok: list[float] = []
    counts = {"refused": 0, "failed": 0}
    start = time.perf_counter()
    end = start + options.duration_s

    async def sender(k: int) -> None:
        dc = config.dcs[k % len(config.dcs)]
        conn = await HttpConnection(dc.host, dc.http_port).open()
        n = 0
        try:
            while time.perf_counter() < end:
                payer = rng.randrange(pool)
                payee = (payer + 1 + rng.randrange(pool - 1)) % pool
                body = {"client_id": f"s{k}-{n}", "to": names[payee], "amount": 1}
                n += 1
                sent = time.perf_counter()
                status, _ = await conn.post("/v1/wallet/transfers", msgspec.json.encode(body), tokens[payer])
                if status == 201:
                    ok.append(time.perf_counter() - sent)
                elif status == 409:
                    counts["refused"] += 1
                else:
                    counts["failed"] += 1
        finally:
            conn.close()

    await asyncio.gather(*(sender(k) for k in range(options.senders)))
    return time.perf_counter() - start, ok, counts["refused"], counts["failed"]


async def _totals(config: Config) -> list[LedgerTotals]:
    """Every DC's ledger check, once all have applied the same position (bounded wait)."""
    ops = {"x-ops-token": config.secrets.ops_token}
    async with httpx.AsyncClient(timeout=10) as http:
        totals: list[LedgerTotals] = []
        for _ in range(40):
            totals = []
            for dc in config.dcs:
                resp = await http.get(dc.http_url + "/internal/wallet/totals", headers=ops)
                totals.append(msgspec.convert(resp.json(), LedgerTotals))
            if len({t.position for t in totals}) == 1:
                break
            await asyncio.sleep(0.25)
        return totals


def pay_table(r: PayResult) -> str:
    o = r.options
    pairs = f"{o.hot} hot wallets" if o.hot else f"uniform pairs over {o.wallets} wallets"
    lat = r.latency
    lines = [
        f"{pairs}, {o.senders} senders (closed loop), {o.duration_s:.0f} s",
        f"{'transfers/s':28} {r.per_s:>10,.1f}   "
        f"({r.transfers} accepted, {r.refused} refused, {r.failed} failed)",
        f"{'transfer latency':28} p50 {lat.p50_ms} ms  p95 {lat.p95_ms} ms  "
        f"p99 {lat.p99_ms} ms  max {lat.max_ms} ms",
    ]
    for raw in r.raw:
        lines.append(f"{'raw JetStream':28} {raw.per_s:>10,.1f}   ({raw.mode})")
    lines.append(f"{'ratio to raw pipelined (mean)':28} {r.ratio_to_raw_pipelined:>10.3f}")
    lines.append(f"ledger check at every DC: {'ok' if r.ledger_ok else 'FAILED'}")
    return "\n".join(lines)
