"""A burned DC's read model rebuilt from the real log: how long until it serves again.

Fills a fresh cluster's room streams with a synthetic history (``rooms`` groups of ``room_size``,
``messages`` messages, published straight to JetStream in pipelined windows: filling is not what is
measured), waits until every gateway has applied it, then SIGKILLs one gateway, deletes its SQLite
read model and starts it again. Measured: from the restart until ``/healthz`` says ready, and until
it has applied every entry (reading its own replica in batches of 512 direct gets, applying in
batches of up to 10,000 per transaction), i.e. the real rebuild path of a DC that lost its disks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import httpx
import msgspec
from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from firebreak.adapters import nats_connect
from firebreak.adapters.nats_connect import BRISK, TRANSIENT, StillCommitting, publish_once
from firebreak.bench.procstats import sample
from firebreak.bench.readmodel import synthetic_log
from firebreak.bench.texts import TextKind, texts
from firebreak.bootstrap import read_model_path
from firebreak.config import Config
from firebreak.domain.ids import room_stream, room_subject
from firebreak.errors import Unavailable
from firebreak.localcluster import LocalCluster
from firebreak.retry import retry

WINDOW = 1000
#: How long the fill waits for one publish's answer before asking again, and gives it up in all.
FILL_ANSWER_S = 10.0
FILL_TRY_S = 120.0


class RebuildResult(msgspec.Struct, frozen=True):
    entries: int
    fill_seconds: float
    fill_per_s: float
    #: from the gateway's start until /healthz answered ready (serving: caught up, see readiness.py)
    ready_seconds: float
    #: from the gateway's start until it had applied every entry
    rebuild_seconds: float
    events_per_s: float
    db_mb: float
    gateway_peak_rss_mb: float


async def _heads(http: httpx.AsyncClient, url: str) -> tuple[bool, dict[str, int]]:
    try:
        health = (await http.get(url)).json()
        return bool(health["ready"]), {str(k): int(v) for k, v in health["head"].items()}
    except (httpx.HTTPError, ValueError, KeyError):
        return False, {}


async def _wait_caught_up(url: str, targets: dict[str, int], within_s: float) -> tuple[float, float]:
    """Polls /healthz every 20 ms; returns (seconds until ready, seconds until caught up)."""
    start = time.perf_counter()
    ready_at: float | None = None
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.perf_counter() - start < within_s:
            ready, head = await _heads(http, url)
            now = time.perf_counter() - start
            if ready and ready_at is None:
                ready_at = now
            if ready and all(head.get(s, 0) >= seq for s, seq in targets.items()):
                return ready_at or now, now
            await asyncio.sleep(0.02)
    raise Unavailable(f"the read model did not catch up within {within_s:.0f} s")


async def fill_log(
    js: JetStreamContext,
    entries: Iterable[tuple[str, bytes]],
    say: Callable[[str], None],
    *,
    within_s: float = FILL_TRY_S,
) -> int:
    """Publishes ``entries`` (subject, data) in windows of :data:`WINDOW`; returns how many. Each
    carries its number as ``Nats-Msg-Id`` and is tried again through a leader's election (one can
    come while three gateways apply the fill on two cores), so a try whose answer was lost is
    stored once. Each entry is given up after ``within_s``."""
    count = 0
    pending: list[Awaitable[PubAck]] = []
    for number, (subject, data) in enumerate(entries):
        pending.append(_publish(js, subject, data, f"fill:{number}", within_s))
        if len(pending) >= WINDOW:
            await asyncio.gather(*pending)
            count += len(pending)
            pending = []
            if count % 100_000 < WINDOW:
                say(f"  {count:,} published")
    await asyncio.gather(*pending)
    return count + len(pending)


async def _publish(js: JetStreamContext, subject: str, data: bytes, msg_id: str, within_s: float) -> PubAck:
    headers = {"Nats-Msg-Id": msg_id}
    return await retry(
        lambda: publish_once(js, subject, data, attempt_s=FILL_ANSWER_S, headers=headers),
        retry_on=(*TRANSIENT, StillCommitting),
        deadline=time.monotonic() + within_s,
        backoff=BRISK,
    )


async def run_rebuild_bench(
    config: Config,
    *,
    messages: int,
    say: Callable[[str], None],
    rooms: int = 1000,
    room_size: int = 20,
    message_size: int = 100,
    text: TextKind = "repeat",
    within_s: float = 900.0,
) -> RebuildResult:
    cluster = LocalCluster(config)
    say(f"starting a 3-DC cluster in {config.data_dir} ...")
    await cluster.start()
    try:
        nc = await nats_connect.connect(config, prefer_dc=config.dcs[0].name, name="bench-fill")
        try:
            js = nc.jetstream(timeout=30)
            say(f"filling the log with {messages:,} messages in {rooms} rooms ...")
            started = time.perf_counter()
            parts = config.partitions
            entries_in = (
                (room_subject(room_id, parts), data)
                for room_id, data in synthetic_log(rooms, room_size, messages, texts(text, message_size))
            )
            count = await fill_log(js, entries_in, say)
            fill = time.perf_counter() - started
            targets = {
                room_stream(p): int((await js.stream_info(room_stream(p))).state.last_seq or 0)
                for p in range(parts)
            }
        finally:
            await nc.close()
        entries = sum(targets.values())
        victim = config.dcs[-1]
        url = victim.http_url + "/healthz"
        say("waiting until every gateway has applied it ...")
        for dc in config.dcs:
            await _wait_caught_up(dc.http_url + "/healthz", targets, within_s)
        say(f"burning {victim.name}'s read model and restarting its gateway ...")
        cluster.kill_gateway(victim.name)
        db = read_model_path(config, victim)
        for suffix in ("", "-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        cluster.start_gateway(victim.name)
        ready_s, rebuild_s = await _wait_caught_up(url, targets, within_s)
        peak = sample(cluster.gateways[victim.name].pid).peak_rss_mb
        size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 1e6
    finally:
        cluster.stop()
    return RebuildResult(
        entries=entries,
        fill_seconds=round(fill, 2),
        fill_per_s=round(count / fill, 1),
        ready_seconds=round(ready_s, 2),
        rebuild_seconds=round(rebuild_s, 2),
        events_per_s=round(entries / rebuild_s, 1),
        db_mb=round(size, 1),
        gateway_peak_rss_mb=round(peak, 1),
    )
