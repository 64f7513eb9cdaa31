"""Wiring: the one place that builds a DC's gateway from its parts.

Each part takes its dependencies through its constructor; this module only decides which concrete
adapter goes where. Nothing else constructs adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

from firebreak.adapters import leadership, log_setup, nats_connect, sqlite_store
from firebreak.adapters.counters import StreamCounters
from firebreak.adapters.ephemeral import CoreLink
from firebreak.adapters.group_commit import GroupCommit
from firebreak.adapters.leader_watch import StreamLeaders
from firebreak.adapters.leadership import Leadership
from firebreak.adapters.metrics import GatewayMetrics, GatewayState
from firebreak.adapters.nats_connect import PATIENT, STARTUP_RETRYABLE
from firebreak.adapters.nats_log import Log
from firebreak.adapters.node_links import NodeLinks
from firebreak.adapters.object_files import ObjectFiles
from firebreak.adapters.oidc_store import OidcStore
from firebreak.adapters.ops_board import DCHeartbeat, OpsBoard
from firebreak.adapters.quorum_probe import QuorumProbe
from firebreak.adapters.read_model_claim import claim
from firebreak.adapters.replica_reader import ReplicaReader
from firebreak.adapters.route_rtt import RouteRtt
from firebreak.adapters.siblings import Siblings
from firebreak.adapters.sqlite_checkpoint import Checkpointer
from firebreak.adapters.sqlite_files import FileQueries
from firebreak.adapters.sqlite_presence import PresenceQueries
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_search import SearchQueries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.bootstrap.gateway import Gateway
from firebreak.config import Config, DCConfig
from firebreak.errors import ConfigError, Unavailable
from firebreak.retry import retry
from firebreak.service.account_sessions import AccountSessions
from firebreak.service.accounts import Accounts
from firebreak.service.auth import Passwords, Tokens
from firebreak.service.balancer import Balancer
from firebreak.service.cutoff import CutOffWatch
from firebreak.service.files import Files
from firebreak.service.hub import CUT_OFF, Hub
from firebreak.service.log_positions import LogPositions
from firebreak.service.message_changes import MessageChanges
from firebreak.service.messages import Messages
from firebreak.service.oidc_provider import OidcProvider
from firebreak.service.presence import Presence
from firebreak.service.projector import Projector
from firebreak.service.ratelimit import WriteLimiter
from firebreak.service.readiness import Readiness
from firebreak.service.room_queries import RoomQueries
from firebreak.service.rooms import Rooms
from firebreak.service.search import Search
from firebreak.service.startup import Startup
from firebreak.service.sync import Freshness
from firebreak.service.throttle import Throttle
from firebreak.service.wallets import Wallets

log = logging.getLogger(__name__)

__all__ = ["Gateway", "claim_read_model", "read_model_path", "start_gateway"]


#: The login provider's reads and writes: each try's timeout (a try sent to a leader that just died
#: waits this long before the next one finds the new leader), within the store's deadline.
ATTEMPT_S = 1.0


def read_model_path(config: Config, dc: DCConfig, process: int = 1) -> Path:
    """Where gateway process ``process`` of ``dc`` keeps its read model (each has its own)."""
    name = "read-model.sqlite3" if process == 1 else f"read-model-{process}.sqlite3"
    return config.data_dir / dc.name / "gateway" / name


def claim_read_model(config: Config, dc: DCConfig, process: int) -> None:
    """Takes gateway process ``process``'s read model for this process, or refuses: another
    process of the same number already has it (adapters/read_model_claim.py), or the DC has no
    such process."""
    _check_process(dc, process)
    claim(read_model_path(config, dc, process))


def _check_process(dc: DCConfig, process: int) -> None:
    if not 1 <= process <= dc.gateways:
        raise ConfigError(f"{dc.name} has {dc.gateways} gateway processes; there is no process {process}")


async def start_gateway(
    config: Config, dc_name: str, startup: Startup | None = None, process: int = 1
) -> Gateway:
    """Connects to the log, makes sure the topology exists, and starts building the read model.

    Never gives up on the cluster: each step waits with backoff for as long as the caller's task
    runs, reporting to ``startup`` what it waits for (a gateway may start before any node of the
    log is up, or while the cluster is still electing its leaders). ``process``: which of the DC's
    gateway processes this is (1 to ``dc.gateways``).
    """
    dc = config.dc(dc_name)
    _check_process(dc, process)
    startup = startup or Startup(dc.name)
    startup.begin("connecting to the log")
    nc = await nats_connect.connect(
        config, prefer_dc=dc.name, name=f"gateway-{dc.label(process)}", on_retry=startup.retrying
    )
    try:
        js = nc.jetstream(timeout=5.0)
        startup.begin("making sure the streams and the KV buckets exist")
        await log_setup.ensure_topology(js, config, on_retry=startup.retrying)
        startup.begin("reading the cluster secrets")
        key = await log_setup.cluster_secret(js, log_setup.TOKEN_KEY_NAME, on_retry=startup.retrying)
        room_key = await log_setup.cluster_secret(js, log_setup.ROOM_ID_KEY_NAME, on_retry=startup.retrying)
        gw = _assemble(config, dc, process, nc, js, key, room_key)
        startup.begin("making sure the login provider's signing keys exist")
        await retry(
            gw.oidc.keys.ensure,
            retry_on=(*STARTUP_RETRYABLE, Unavailable),
            on_retry=startup.retrying,
            backoff=PATIENT,
        )
        startup.begin("building the read model")
        return gw
    except BaseException:
        with contextlib.suppress(Exception):
            await nc.close()
        raise


def _assemble(
    config: Config, dc: DCConfig, process: int, nc: NATS, js: JetStreamContext, key: bytes, room_key: bytes
) -> Gateway:
    db_path = read_model_path(config, dc, process)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite_store.connect(db_path)
    store = SqliteStore(conn)
    queries = Queries(conn)
    hub = Hub(config.limits.max_ws_per_user)
    metrics = GatewayMetrics(CollectorRegistry())
    limiter = WriteLimiter.from_limits(config.limits)
    checkpointer = Checkpointer(db_path, conn)
    projector = Projector(
        store,
        config.partitions,
        hub.publish,
        config.read_model_commit_s,
        revoked=hub.end_session,
        observe=limiter.observe,
        catching_up=True,
        after_commit=checkpointer.after_commit,
    )

    head = projector.head
    readers = [
        ReplicaReader(
            nc,
            name,
            log_setup.committed_subject(subject),
            head[name] + 1,
            projector.queue,
            wait_for_room=projector.wait_for_room,
        )
        for name, subject in log_setup.stream_subjects(config.partitions).items()
    ]
    by_stream = {r.stream: r for r in readers}

    readiness = Readiness(projector, readers)
    probe = QuorumProbe(nc, dc.name, leadership.stream_names(config))
    link = CutOffWatch(probe, active=readiness.caught_up, on_cut=lambda: hub.end_all(CUT_OFF), dc=dc.name)
    # Every append waits on "acknowledged or this DC cut off" (service/cutoff.py).
    # A stream's leader is asked at its own node when this DC's node answers for it (node_links.py).
    node_links = NodeLinks(config, f"gateway-{dc.label(process)}-to-leader", timeout_s=ATTEMPT_S)
    the_log = Log(nc, js, cut_off=link.signal, at_node=node_links.at)
    fresh = Freshness(
        the_log, projector, ring=lambda stream, seq: by_stream[stream].ring(seq), cut_off=link.signal
    )
    limits = config.limits
    passwords = Passwords(
        limits.password_time_cost, limits.password_memory_kib, queue_max=limits.password_queue_max
    )
    tokens = Tokens(key, limits.token_ttl_s)
    throttle = Throttle(StreamCounters(js), limits)
    account_sessions = AccountSessions(the_log, queries, fresh, tokens, passwords, limits, dc.name)
    accounts = Accounts(
        the_log, queries, fresh, tokens, passwords, limits, account_sessions, limiter, throttle
    )
    room_queries = RoomQueries(config, queries, fresh)
    rooms = Rooms(config, the_log, queries, fresh, accounts, limiter, room_queries, room_key=room_key)
    messages = Messages(config, the_log, queries, fresh, limiter, room_queries, GroupCommit(the_log))
    wallets = Wallets(
        config, the_log, queries, store.wallets, fresh, accounts, dc.name, messages, room_queries
    )

    leaders = StreamLeaders(nc, list(by_stream))
    gw = Gateway(
        config,
        dc,
        nc,
        projector,
        queries,
        hub,
        accounts,
        rooms,
        messages,
        room_queries,
        Search(config, SearchQueries(conn), room_queries),
        MessageChanges(config, the_log, queries, fresh, limiter, room_queries),
        readers,
        readiness,
        leaders,
        wallets,
        metrics,
        link,
        OidcProvider.build(OidcStore(nc.jetstream(timeout=ATTEMPT_S)), queries, limits, config.issuer),
        Files(config, ObjectFiles(js), the_log, queries, FileQueries(conn), fresh, room_queries),
        process=process,
        node_links=node_links,
    )
    # What the log held at start, as each stream's leader says: the read model must reach it
    # before this DC answers anyone (waits for a leader where there is none).
    last_seq = functools.partial(the_log.last_seq, deadline_s=None)
    gw.tasks.append(asyncio.create_task(readiness.learn_targets(last_seq), name="readiness-targets"))
    gw.tasks.append(asyncio.create_task(projector.run(), name="projector"))
    gw.tasks.append(asyncio.create_task(readiness.serve_when_caught_up(), name="readiness-serve"))
    gw.tasks.append(asyncio.create_task(checkpointer.run(serving=readiness.caught_up), name="checkpointer"))
    gw.tasks.extend(asyncio.create_task(r.run(), name=f"read-{r.stream}") for r in readers)
    gw.tasks.append(asyncio.create_task(leaders.run(), name="stream-leaders"))
    gw.tasks.append(asyncio.create_task(probe.run(), name="quorum-probe"))
    gw.tasks.append(asyncio.create_task(link.run(), name="cut-off-watch"))
    _watch(
        gw,
        LogPositions(functools.partial(the_log.last_seq, deadline_s=2.0), list(by_stream)),
        lambda: checkpointer.wal_frames,
    )
    if process == 1:
        _balance(gw, config, dc, nc, js)
    if dc.gateways > 1:
        gw.siblings = Siblings(nc, dc.name, process, dc.gateways)
        gw.tasks.append(asyncio.create_task(gw.siblings.run(gw.drain_here), name="sibling-drains"))
    gw.presence = Presence(
        CoreLink(nc, dc.label(process)),
        room_queries,
        PresenceQueries(conn, limits.presence_push_max_members),
        limits,
        dc.label(process),
    )
    gw.tasks.append(asyncio.create_task(gw.presence.run(), name="presence"))
    for task in gw.tasks:
        task.add_done_callback(_log_if_failed)
    return gw


def _balance(gw: Gateway, config: Config, dc: DCConfig, nc: NATS, js: JetStreamContext) -> None:
    """The DC's leader balancer and its heartbeat on the ops board: run by the DC's first gateway
    process only, since the board holds one heartbeat per DC."""
    route_rtt = RouteRtt(dc.monitor_port)
    gw.tasks.append(asyncio.create_task(route_rtt.run(), name="route-rtt"))
    gw.balancer = balancer = Balancer(
        OpsBoard(js),
        Leadership(nc),
        dc=dc.name,
        dcs=[d.name for d in config.dcs],
        streams=leadership.stream_names(config),
        heartbeat=lambda: DCHeartbeat(
            ready=gw.serving(), draining=gw.draining, nearest_peer_ms=route_rtt.nearest_ms
        ),
    )
    gw.tasks.append(asyncio.create_task(balancer.run(), name="leader-balancer"))


def _watch(gw: Gateway, positions: LogPositions, wal_frames: Callable[[], int]) -> None:
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
            wal_frames=wal_frames(),
        )

    gw.metrics.watch(state)


def _log_if_failed(task: asyncio.Task[None]) -> None:
    """A background part that stops by an error would otherwise stop silently (its error is only
    seen at shutdown): log it at once, with its traceback."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())
