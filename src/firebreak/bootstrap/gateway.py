"""The running parts of one DC's gateway, as bootstrap (``__init__.py``) assembled them, and what
they answer together: readiness, refusals, health, digest, live sessions, the write hint, drain
and shutdown. Nothing here builds a part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS

from firebreak.adapters.leader_watch import StreamLeaders
from firebreak.adapters.metrics import GatewayMetrics
from firebreak.adapters.node_links import NodeLinks
from firebreak.adapters.replica_reader import ReplicaReader
from firebreak.adapters.siblings import Siblings
from firebreak.adapters.sqlite_queries import Queries
from firebreak.config import Config, DCConfig
from firebreak.domain.ids import Cursor, partition_of, room_stream
from firebreak.errors import Unavailable
from firebreak.service.accounts import Accounts
from firebreak.service.balancer import Balancer
from firebreak.service.cutoff import CutOffWatch
from firebreak.service.files import Files
from firebreak.service.hub import DRAINING, Hub
from firebreak.service.message_changes import MessageChanges
from firebreak.service.messages import Messages
from firebreak.service.oidc_provider import OidcProvider
from firebreak.service.presence import Presence
from firebreak.service.projector import Projector
from firebreak.service.readiness import Readiness
from firebreak.service.room_queries import RoomQueries
from firebreak.service.rooms import Rooms
from firebreak.service.search import Search
from firebreak.service.sessions import LiveSession
from firebreak.service.wallets import Wallets
from firebreak.tasks import cancel_all
from firebreak.wire.views import Digest, Drained, Health

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
    messages: Messages
    room_queries: RoomQueries
    search: Search
    message_changes: MessageChanges
    readers: list[ReplicaReader]
    readiness: Readiness
    #: Which DC's node leads each stream: for the write hint (docs/API.md).
    leaders: StreamLeaders
    wallets: Wallets
    #: Prometheus metrics, on this gateway's own registry (GET /metrics).
    metrics: GatewayMetrics
    #: Whether this DC is cut off from the log (a partition): then it sends its clients elsewhere.
    link: CutOffWatch
    #: The OpenID Connect provider (docs/LOGIN.md).
    oidc: OidcProvider
    #: Attachments (docs/FILES.md).
    files: Files
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: Set by an operator before a planned outage: refuse new work so clients move elsewhere.
    draining: bool = False
    #: Keeps stream leaders spread (set once built: its heartbeat reads this gateway's state).
    balancer: Balancer | None = None
    #: Typing and presence (ephemeral, over core NATS: service/presence.py).
    presence: Presence | None = None
    #: Which of the DC's gateway processes this is (1 to ``dc.gateways``).
    process: int = 1
    #: The DC's other gateway processes, told of a drain (set where the DC has several).
    siblings: Siblings | None = None
    #: Connections to other DCs' nodes, made when a stream's leader must be asked at its own node.
    node_links: NodeLinks | None = None

    def serving(self) -> bool:
        """Readers running and the read model caught up with the log (what /healthz calls ready)."""
        return all(r.ready for r in self.readers) and self.readiness.caught_up()

    async def drain(self) -> Drained:
        """Planned outage: drains this process (:meth:`drain_here`) and tells the DC's other
        gateway processes to drain too (adapters/siblings.py)."""
        ended = await self.drain_here()
        processes = 1
        if self.siblings is not None:
            try:
                others = await self.siblings.tell_drain()
                processes, ended = processes + others.processes, ended + others.ended_sessions
            except Exception:  # NATS unreachable: the answer's count says who drained
                log.warning("%s: could not tell the other gateway processes", self.dc.name, exc_info=True)
        return Drained(
            dc=self.dc.name, ended_sessions=ended, processes_drained=processes, processes=self.dc.gateways
        )

    async def drain_here(self) -> int:
        """Refuse new requests with 503 and end live sessions, so clients move to other DCs before
        this one goes down; tell the leader balancer at once, so that it gives this DC no leaders
        and moves away the ones it has. Returns the sessions ended."""
        self.draining = True
        ended = self.hub.end_all(DRAINING)
        if self.balancer is not None:
            try:
                await self.balancer.announce()
            except Exception:  # the board is unreachable: the balancer's next round says it
                log.warning("%s: could not announce the drain on the ops board", self.dc.name, exc_info=True)
        return ended

    def refusal(self, writing: bool = False) -> Unavailable | None:
        """Why this DC must not take an API call (``writing``: one that changes something) or a
        WebSocket now (clients go elsewhere), if so. A DC cut off from the log still answers reads:
        it may be all that is left (two DCs burned), and its clients' writes move to any DC that
        can take them."""
        if self.draining:
            return Unavailable(f"{self.dc.name} is draining; use another DC", code="dc_draining")
        if not self.readiness.caught_up():
            return Unavailable(
                f"{self.dc.name} is rebuilding its read model ({self.readiness.progress()}); use another DC",
                code="dc_catching_up",
            )
        if writing and self.link.cut_off:
            return self.link.refusal()
        return None

    def health(self) -> Health:
        ready = self.serving()
        return Health(
            dc=self.dc.name,
            process=self.process,
            cursor=str(self.projector.head_cursor()),
            head=dict(self.projector.head),
            connections=self.hub.connections,
            draining=self.draining,
            caught_up=self.readiness.caught_up(),
            readers={r.stream: r.state.value for r in self.readers},
            ready=ready,
            waiting_for=None if ready else self._waiting_for(),
        )

    def _waiting_for(self) -> str:
        if self.link.cut_off:
            return "the log: this DC is cut off from it (no stream can be read here)"
        return self.readiness.progress()

    def digest(self) -> Digest:
        return Digest(
            dc=self.dc.name,
            head=dict(self.projector.head),
            digest=self.queries.digest(),
            counts=self.queries.counts(),
        )

    def new_session(self, user_id: str, session_id: str, cursor: str | None) -> LiveSession:
        """A live WebSocket session from the client's cursor (None: from now)."""
        start = Cursor.parse(cursor, self.config.partitions) if cursor else None
        limit = self.config.limits.ws_queue_max
        return LiveSession(
            user_id,
            start,
            self.projector,
            self.queries,
            self.hub,
            limit,
            session_id,
            deliveries=self.metrics,
            ephemeral=self.presence.attach if self.presence is not None else None,
        )

    def write_url(self, room_id: str) -> str | None:
        """The HTTP URL of the DC whose node leads ``room_id``'s stream, if known: a hint for
        clients, which send that room's writes there (docs/API.md)."""
        name = self.leaders.leader(room_stream(partition_of(room_id, self.config.partitions)))
        for dc in self.config.dcs:
            if dc.name == name:
                return dc.http_url
        return None

    async def close(self) -> None:
        pending = await cancel_all(self.tasks)
        for task in self.tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.debug("task %s ended with %r at shutdown", task.get_name(), task.exception())
        if pending:
            log.warning(
                "%d tasks did not stop at shutdown: %s", len(pending), [t.get_name() for t in pending]
            )
        try:
            self.projector.close()
        except Exception:  # the restarted gateway reads those entries again from the log
            log.exception("could not commit the read model's last applies at shutdown")
        if self.node_links is not None:
            await self.node_links.close()
        with contextlib.suppress(Exception):
            await self.nc.close()
