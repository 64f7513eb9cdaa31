"""An in-memory read model fed by the projection, with the search and message-change use cases
over it (no cluster, no log): for tests of the rules and queries."""

from __future__ import annotations

import asyncio

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_search import SearchQueries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.ids import partition_of, room_stream
from firebreak.domain.model import Applied
from firebreak.limits import Limits
from firebreak.service.projector import Projector
from firebreak.service.room_queries import RoomQueries
from firebreak.service.search import Search
from firebreak.service.sync import Freshness
from firebreak.wire.views import SearchResult

PARTITIONS = 2


class NoBarrier(Freshness):
    """This model is the whole log: a barrier has nothing to wait for."""

    def __init__(self) -> None:
        pass

    async def barrier(self, stream: str) -> None:
        return None


class Model:
    def __init__(self, limits: Limits | None = None) -> None:
        conn = sqlite_store.connect(":memory:")
        self.pushed: list[Applied] = []
        self.projector = Projector(SqliteStore(conn), PARTITIONS, self.pushed.extend)
        self.queries = Queries(conn)
        config = Config(partitions=PARTITIONS, limits=limits or Limits())
        self.rooms = RoomQueries(config, self.queries, NoBarrier())
        self.search = Search(config, SearchQueries(conn), self.rooms)
        self.seqs = [0] * PARTITIONS
        self.sent = 0

    def apply(self, *events: ev.RoomEvent) -> None:
        """Applies ``events`` as one batch in a transaction of its own."""
        self.projector.apply_batch(self._entries(events))

    def apply_open(self, *events: ev.RoomEvent) -> None:
        """Applies ``events`` as a serving gateway does: in the transaction left open across
        batches until its commit (``self.projector.commit()``)."""
        self.projector.apply_batch_open(self._entries(events))

    def _entries(self, events: tuple[ev.RoomEvent, ...]) -> list[tuple[str, int, bytes]]:
        batch = []
        for e in events:
            p = partition_of(e.room_id, PARTITIONS)
            self.seqs[p] += 1
            batch.append((room_stream(p), self.seqs[p], ev.encode(e)))
        return batch

    def group(self, room_id: str, creator: str, *members: str) -> None:
        self.apply(
            ev.RoomCreated(
                v=1, at=1, room_id=room_id, kind="group", name="g", creator=creator, members=members
            )
        )

    def send(self, room_id: str, sender: str, text: str, at: int | None = None) -> None:
        """Sends ``text`` (at ``at``, default: the count of sends so far)."""
        self.sent += 1
        stamp = self.sent if at is None else at
        cid = f"c{self.sent}"
        self.apply(ev.MessageSent(v=1, at=stamp, room_id=room_id, sender=sender, client_id=cid, text=text))

    def find(
        self,
        me: str,
        q: str,
        room_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        order: str = "newest",
    ) -> SearchResult:
        return asyncio.run(self.search.search(me, q, room_id, limit, cursor, order))
