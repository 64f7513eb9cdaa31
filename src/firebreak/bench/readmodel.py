"""The read model alone: how fast the projection applies a log, and how fast a history page is.

Builds a synthetic room log (``rooms`` rooms of ``room_size`` members, then ``messages`` messages
round-robin), applies it with the real projector in batches of 10,000 (as a rebuilding gateway does)
into a real SQLite file, then times history pages of 50 with unread numbers, as the API computes
them. What it leaves out: reading the entries from the log (direct gets), measured separately by
the end-to-end figures.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from firebreak.adapters import sqlite_store
from firebreak.adapters.replica_reader import Entry
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.bench.latency import Latency, latency
from firebreak.bench.texts import TextKind, texts
from firebreak.domain import events as ev
from firebreak.domain.ids import room_stream
from firebreak.service.projector import CATCH_UP_BATCH, Projector
from firebreak.service.room_queries import unread_counts

BATCH = CATCH_UP_BATCH  # as a rebuilding gateway applies


class ReadModelResult(msgspec.Struct, frozen=True):
    events: int
    #: entries per transaction
    batch: int
    apply_seconds: float
    events_per_s: float
    db_mb: float
    history_page_50: Latency


def synthetic_log(
    rooms: int, room_size: int, messages: int, bodies: Sequence[str]
) -> Iterator[tuple[str, bytes]]:
    """(room id, encoded event): ``rooms`` groups of ``room_size``, then ``messages`` messages
    round-robin over the rooms, each from a member, saying ``bodies`` in turn."""
    for r in range(rooms):
        members = tuple(f"u{r}_{k}" for k in range(1, room_size))
        created = ev.RoomCreated(
            v=1, at=0, room_id=f"g_{r}", kind="group", name="n", creator=f"u{r}_0", members=members
        )
        yield created.room_id, ev.encode(created)
    for m in range(messages):
        r = m % rooms
        sent = ev.MessageSent(
            v=1,
            at=m,
            room_id=f"g_{r}",
            sender=f"u{r}_{m % room_size}",
            client_id=f"c{m}",
            text=bodies[m % len(bodies)],
        )
        yield sent.room_id, ev.encode(sent)


def _log(rooms: int, room_size: int, messages: int, bodies: Sequence[str]) -> list[Entry]:
    stream = room_stream(0)
    return [
        (stream, seq, data)
        for seq, (_, data) in enumerate(synthetic_log(rooms, room_size, messages, bodies), start=1)
    ]


def run_read_model_bench(
    *,
    messages: int,
    rooms: int = 1000,
    room_size: int = 20,
    message_size: int = 100,
    text: TextKind = "repeat",
    queries: int = 2000,
    seed: int = 1,
    batch: int = BATCH,
) -> ReadModelResult:
    entries = _log(rooms, room_size, messages, texts(text, message_size))
    with tempfile.TemporaryDirectory(prefix="firebreak-readmodel-") as tmp:
        path = Path(tmp) / "read-model.sqlite3"
        conn = sqlite_store.connect(path)
        projector = Projector(SqliteStore(conn), 1, lambda applied: None)
        started = time.perf_counter()
        for first in range(0, len(entries), batch):
            projector.apply_batch(entries[first : first + batch])
        took = time.perf_counter() - started
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size / 1e6
        q = Queries(conn)
        rng = random.Random(seed)
        per_room = messages // rooms
        waits = []
        for _ in range(queries):
            room = f"g_{rng.randrange(rooms)}"
            before = rng.randrange(2, per_room + 2) if per_room > 1 else None
            t = time.perf_counter()
            rows = q.history_before(room, before, 51)
            unread_counts(rows[-50:], q.memberships(room))
            waits.append(time.perf_counter() - t)
        conn.close()
    return ReadModelResult(
        len(entries), batch, round(took, 2), round(len(entries) / took, 1), round(size, 1), latency(waits)
    )
