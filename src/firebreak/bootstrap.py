"""Wiring: the one place that builds a DC's gateway from its parts.

Each part takes its dependencies through its constructor; this module only decides which concrete
adapter goes where. Nothing else constructs adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

from firebreak.adapters import leadership, nats_log, sqlite_store
from firebreak.adapters.leader_watch import StreamLeaders
from firebreak.adapters.leadership import Leadership
from firebreak.adapters.metrics import GatewayMetrics, GatewayState
from firebreak.adapters.nats_log import Log
from firebreak.adapters.ops_board import DCHeartbeat, OpsBoard
from firebreak.adapters.replica_reader import ReplicaReader
from firebreak.adapters.sqlite_checkpoint import Checkpointer
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.config import Config, DCConfig
from firebreak.domain.ids import partition_of, room_stream
from firebreak.errors import Unavailable
from firebreak.service.account_sessions import AccountSessions
from firebreak.service.accounts import Accounts
from firebreak.service.auth import Passwords, Tokens
from firebreak.service.balancer import Balancer
from firebreak.service.hub import DRAINING, Hub
from firebreak.service.log_positions import LogPositions
from firebreak.service.projector import CATCH_UP_BATCH, MAX_BATCH, Projector
from firebreak.service.ratelimit import RateLimiter
from firebreak.service.readiness import Readiness
from firebreak.service.rooms import Rooms
from firebreak.service.startup import Startup
from firebreak.service.sync import Freshness

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """The running parts of one DC's gateway (what the HTTP app and the ops endpoints need)."""

    config: Config
    dc: DCConfig
    nc: NATS
    projector: Projector
    queries: Queries
    hub: Hub
    accounts: Accounts
    rooms: Rooms
    readers: list[ReplicaReader]
    readiness: Readiness
    #: Which DC's node leads each stream: for the write hint (docs/API.md).
    leaders: StreamLeaders
    #: Prometheus metrics, on this gateway's own registry (GET /metrics).
    metrics: GatewayMetrics
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: Set by an operator before a planned outage: refuse new work so clients move elsewhere.
    draining: bool = False
    #: Keeps stream leaders spread (set once built: its heartbeat reads this gateway's state).
    balancer: Balancer | None = None

    def serving(self) -> bool:
        """Readers running and the read model caught up with the log (what /healthz calls ready)."""
        return all(r.ready for r in self.readers) and self.readiness.caught_up()

    async def drain(self) -> int:
        """Planned outage: refuse new requests with 503 and end live sessions, so clients move to
        other DCs before this one goes down; tell the leader balancer at once, so that it gives
        this DC no leaders and moves away the ones it has. Returns the sessions ended."""
        self.draining = True
        ended = self.hub.end_all(DRAINING)
        if self.balancer is not None:
            try:
                await self.balancer.announce()
            except Exception:  # the board is unreachable: the balancer's next round says it
                log.warning("%s: could not announce the drain on the ops board", self.dc.name, exc_info=True)
        return ended

    def refusal(self) -> Unavailable | None:
        """Why this DC must not take API calls or WebSockets now (clients go elsewhere), if so."""
        if self.draining:
            return Unavailable(f"{self.dc.name} is draining; use another DC", code="dc_draining")
        if not self.readiness.caught_up():
            return Unavailable(
                f"{self.dc.name} is rebuilding its read model ({self.readiness.progress()}); use another DC",
                code="dc_catching_up",
            )
        return None

    def write_url(self, room_id: str) -> str | None:
        """The HTTP URL of the DC whose node leads ``room_id``'s stream, if known: a hint for
        clients, which send that room's writes there (docs/API.md)."""
        name = self.leaders.leader(room_stream(partition_of(room_id, self.config.partitions)))
        for dc in self.config.dcs:
            if dc.name == name:
                return dc.http_url
        return None

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            self.projector.close()
        except Exception:  # the restarted gateway reads those entries again from the log
            log.exception("could not commit the read model's last applies at shutdown")
        with contextlib.suppress(Exception):
            await self.nc.close()


def read_model_path(config: Config, dc: DCConfig) -> Path:
    return config.data_dir / dc.name / "gateway" / "read-model.sqlite3"


async def start_gateway(config: Config, dc_name: str, startup: Startup | None = None) -> Gateway:
    """Connects to the log, makes sure the topology exists, and starts building the read model.

    Never gives up on the cluster: each step waits with backoff for as long as the caller's task
    runs, reporting to ``startup`` what it waits for (a gateway may start before any node of the
    log is up, or while the cluster is still electing its leaders).
    """
    dc = config.dc(dc_name)
    startup = startup or Startup(dc.name)
    startup.begin("connecting to the log")
    nc = await nats_log.connect(
        config, prefer_dc=dc.name, name=f"gateway-{dc.name}", on_retry=startup.retrying
    )
    try:
        js = nc.jetstream(timeout=5.0)
        startup.begin("making sure the streams and the KV buckets exist")
        await nats_log.ensure_topology(js, config, on_retry=startup.retrying)
        startup.begin("reading the cluster secrets")
        key = await nats_log.cluster_secret(js, nats_log.TOKEN_KEY_NAME, on_retry=startup.retrying)
        room_key = await nats_log.cluster_secret(js, nats_log.ROOM_ID_KEY_NAME, on_retry=startup.retrying)
        startup.begin("building the read model")
        return _assemble(config, dc, nc, js, key, room_key)
    except BaseException:
        with contextlib.suppress(Exception):
            await nc.close()
        raise


def _assemble(
    config: Config, dc: DCConfig, nc: NATS, js: JetStreamContext, key: bytes, room_key: bytes
) -> Gateway:
    db_path = read_model_path(config, dc)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite_store.connect(db_path)
    store = SqliteStore(conn)
    queries = Queries(conn)
    hub = Hub()
    metrics = GatewayMetrics(CollectorRegistry())
    readiness: Readiness | None = None  # set below; the projector asks it before each batch

    def batch_limit() -> int:
        serving = readiness is not None and readiness.caught_up()
        return MAX_BATCH if serving else CATCH_UP_BATCH

    projector = Projector(
        store,
        config.partitions,
        hub.publish,
        batch_limit,
        config.read_model_commit_s,
        revoked=hub.end_session,
    )

    head = projector.head
    readers = [
        ReplicaReader(
            nc,
            name,
            nats_log.committed_subject(subject),
            head[name] + 1,
            projector.queue,
            wait_for_room=projector.wait_for_room,
        )
        for name, subject in nats_log.stream_subjects(config.partitions).items()
    ]
    by_stream = {r.stream: r for r in readers}

    the_log = Log(nc, js)
    fresh = Freshness(the_log, projector, ring=lambda stream, seq: by_stream[stream].ring(seq))
    limits = config.limits
    passwords = Passwords(limits.password_time_cost, limits.password_memory_kib)
    tokens = Tokens(key, limits.token_ttl_s)
    account_sessions = AccountSessions(the_log, queries, fresh, tokens, passwords, limits, dc.name)
    accounts = Accounts(the_log, queries, fresh, tokens, passwords, limits, account_sessions)
    rooms = Rooms(
        config,
        the_log,
        queries,
        fresh,
        accounts,
        RateLimiter(config.limits.send_rate_per_s, config.limits.send_burst, refused=metrics.refused),
        room_key=room_key,
    )

    readiness = Readiness(projector, readers)
    leaders = StreamLeaders(nc, list(by_stream))
    gw = Gateway(
        config, dc, nc, projector, queries, hub, accounts, rooms, readers, readiness, leaders, metrics
    )
    # What the log held at start, as each stream's leader says: the read model must reach it
    # before this DC answers anyone (waits for a leader where there is none).
    last_seq = functools.partial(the_log.last_seq, deadline_s=None)
    gw.tasks.append(asyncio.create_task(readiness.learn_targets(last_seq), name="readiness-targets"))
    gw.tasks.append(asyncio.create_task(projector.run(), name="projector"))
    checkpointer = Checkpointer(db_path, conn, serving=readiness.caught_up)
    gw.tasks.append(asyncio.create_task(checkpointer.run(), name="checkpointer"))
    gw.tasks.extend(asyncio.create_task(r.run(), name=f"read-{r.stream}") for r in readers)
    gw.tasks.append(asyncio.create_task(leaders.run(), name="stream-leaders"))
    _watch(gw, LogPositions(functools.partial(the_log.last_seq, deadline_s=2.0), list(by_stream)))
    gw.balancer = balancer = Balancer(
        OpsBoard(js),
        Leadership(nc),
        dc=dc.name,
        dcs=[d.name for d in config.dcs],
        streams=leadership.stream_names(config),
        heartbeat=lambda: DCHeartbeat(ready=gw.serving(), draining=gw.draining),
    )
    gw.tasks.append(asyncio.create_task(balancer.run(), name="leader-balancer"))
    for task in gw.tasks:
        task.add_done_callback(_log_if_failed)
    return gw


def _watch(gw: Gateway, positions: LogPositions) -> None:
    """What /metrics reports of the gateway's state, read at each scrape."""
    gw.tasks.append(asyncio.create_task(positions.run(), name="log-positions"))

    def state() -> GatewayState:
        received = {r.stream: r.next_seq - 1 for r in gw.readers}
        return GatewayState(
            dc=gw.dc.name,
            ready=gw.serving(),
            draining=gw.draining,
            caught_up=gw.readiness.caught_up(),
            connections=gw.hub.connections,
            applied=dict(gw.projector.head),
            known_last=positions.known(gw.readiness.targets, received),
            targets=dict(gw.readiness.targets),
        )

    gw.metrics.watch(state)


def _log_if_failed(task: asyncio.Task[None]) -> None:
    """A background part that stops by an error would otherwise stop silently (its error is only
    seen at shutdown): log it at once, with its traceback."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())
