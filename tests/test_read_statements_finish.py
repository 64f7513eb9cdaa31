"""Every read of the read model runs to its end (or is closed) before it returns.

A gateway's reads share the store's connection, and a statement left unfinished there holds an
older snapshot across the projector's COMMITs: SQLite could then never start the WAL over, and the
WAL would grow for as long as the load lasts (docs/READ_MODELS.md, "The read model's WAL" in
docs/PERFORMANCE.md). Each read below is called on a model that holds rows for it; after it returns,
no cursor it opened may be alive, and a RESTART checkpoint from another connection must not find
a reader in its way.
"""

from __future__ import annotations

import inspect
import sqlite3
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_files import FileQueries
from firebreak.adapters.sqlite_presence import PresenceQueries
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_search import SearchQueries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.adapters.sqlite_wallets import SqliteWallets
from firebreak.domain import events as ev
from firebreak.domain.ids import ACCOUNTS_STREAM, WALLETS_STREAM, room_stream
from firebreak.service.projector import Projector

ROOM = "g_" + "a" * 24
DIRECT = "d_" + "b" * 24
USERS = ("u1", "u2", "u3")
FILES = ("f_" + "1" * 32, "f_" + "2" * 32)
#: Writes, not reads (the projection's, inside its transactions).
WRITES = {"record_op", "add_entry"}


class _Tracking(sqlite3.Connection):
    """Remembers every cursor its ``execute`` made, weakly: alive after a read returned means
    someone kept it, and a kept cursor can keep its statement going."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursors: list[weakref.ref[sqlite3.Cursor]] = []

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        cursor = super().execute(*args, **kwargs)
        self.cursors.append(weakref.ref(cursor))
        return cursor


def _events() -> list[tuple[str, int, ev.AccountEvent | ev.RoomEvent | ev.WalletEvent]]:
    """Enough rows that every read below finds more than one."""
    accounts: list[ev.AccountEvent] = [
        ev.UserRegistered(
            v=1, at=1, user_id=u, username=f"name{u}", password_hash="h", display_name=u, request_id=u
        )
        for u in USERS
    ]
    accounts += [
        ev.SessionStarted(
            v=1,
            at=2,
            user_id="u1",
            session_id=f"{n:024x}",
            expires_at=4_000_000_000,
            dc="dc1",
            client="t",
            password_gen=0,
        )
        for n in range(3)
    ]
    accounts.append(ev.SessionRevoked(v=1, at=3, user_id="u1", session_id=f"{0:024x}"))
    room: list[ev.RoomEvent] = [
        ev.RoomCreated(v=1, at=1, room_id=ROOM, kind="group", name="n", creator="u1", members=("u2", "u3")),
        ev.RoomCreated(v=1, at=1, room_id=DIRECT, kind="direct", name="", creator="u1", members=("u2",)),
    ]
    room += [
        ev.FileStored(
            v=1,
            at=2,
            room_id=ROOM,
            uploader="u1",
            file_id=f,
            name="a.txt",
            size=3,
            content_type="text/plain",
            sha256="0" * 64,
        )
        for f in FILES
    ]
    for n in range(1, 7):
        room.append(
            ev.MessageSent(
                v=1, at=10 + n, room_id=ROOM, sender="u1", client_id=f"c{n}", text=f"hello world {n}"
            )
        )
    room.append(
        ev.MessageSent(v=2, at=20, room_id=ROOM, sender="u1", client_id="c7", text="files", attachments=FILES)
    )
    room += [
        ev.ReactionAdded(v=1, at=21, room_id=ROOM, user_id=u, room_seq=1, emoji="👍", request_id=u)
        for u in USERS
    ]
    room += [
        ev.MessageEdited(
            v=1, at=22 + n, room_id=ROOM, sender="u1", room_seq=1, client_id=f"e{n}", text=f"hello {n}"
        )
        for n in range(2)
    ]
    room.append(ev.ReadUpTo(v=1, at=30, room_id=ROOM, user_id="u2", room_seq=3))
    wallets: list[ev.WalletEvent] = [
        ev.WalletCredited(v=1, at=1, user_id="u1", amount=1000, request_id=f"r{n}") for n in range(2)
    ]
    wallets += [
        ev.TransferMade(v=1, at=2, payer="u1", payee="u2", amount=10, client_id=f"t{n}") for n in range(3)
    ]
    out: list[tuple[str, int, ev.AccountEvent | ev.RoomEvent | ev.WalletEvent]] = []
    for stream, events in ((ACCOUNTS_STREAM, accounts), (room_stream(0), room), (WALLETS_STREAM, wallets)):
        out += [(stream, seq, e) for seq, e in enumerate(events, start=1)]
    return out


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "rm.sqlite3"
    conn = sqlite_store.connect(path)
    Projector(SqliteStore(conn), 1, lambda applied: None).apply_batch(
        [(stream, seq, ev.encode(event)) for stream, seq, event in _events()]
    )
    conn.close()
    return path


def _reads(conn: sqlite3.Connection) -> dict[str, Callable[[], object]]:
    q, s, p, f, w = (
        Queries(conn),
        SearchQueries(conn),
        PresenceQueries(conn),
        FileQueries(conn),
        SqliteWallets(conn),
    )
    sessions = [f"{n:024x}" for n in range(3)]
    return {
        "Queries.user_by_username": lambda: q.user_by_username("nameu1"),
        "Queries.user_by_id": lambda: q.user_by_id("u1"),
        "Queries.display_names": lambda: q.display_names(list(USERS)),
        "Queries.is_revoked": lambda: q.is_revoked(sessions[0]),
        "Queries.sessions_of": lambda: q.sessions_of("u1", 0, 1),
        "Queries.session_owner": lambda: q.session_owner(sessions[1]),
        "Queries.room": lambda: q.room(ROOM),
        "Queries.is_active_member": lambda: q.is_active_member(ROOM, "u1"),
        "Queries.direct_room": lambda: q.direct_room("u1", "u2"),
        "Queries.memberships": lambda: q.memberships(ROOM),
        "Queries.read_position": lambda: q.read_position(ROOM, "u2"),
        "Queries.unread_count": lambda: q.unread_count(ROOM, 5, 5),
        "Queries.unread_counts": lambda: q.unread_counts(ROOM, 1, 7),
        "Queries.rooms_of": lambda: q.rooms_of("u1"),
        "Queries.message": lambda: q.message(ROOM, 1),
        "Queries.message_by_client_id": lambda: q.message_by_client_id("u1", "c1", ROOM),
        "Queries.messages_by_client_ids": lambda: q.messages_by_client_ids("u1", ["c1", "c2", "c3"]),
        "Queries.files_in_room": lambda: q.files_in_room(ROOM, list(FILES)),
        "Queries.history_before": lambda: q.history_before(ROOM, None, 1),
        "Queries.history_after": lambda: q.history_after(ROOM, 0, 1),
        "Queries.catch_up": lambda: q.catch_up("u1", 0, 0, 1_000, 1),
        "Queries.reactions": lambda: q.reactions(ROOM, 1, 7),
        "Queries.edit_position": lambda: q.edit_position(ROOM, 1, "e0"),
        "Queries.edit_history": lambda: q.edit_history(ROOM, 1),
        "Queries.event_body": lambda: q.event_body(0, 3),
        "Queries.creation_body": lambda: q.creation_body(ROOM),
        "Queries.digest": q.digest,
        "Queries.counts": q.counts,
        "SearchQueries.rooms_of": lambda: s.rooms_of("u1"),
        "SearchQueries.indexed": lambda: s.indexed(["hel"], [], [ROOM], 0, 1, relevance=False),
        "SearchQueries.indexed relevance": lambda: s.indexed(["hel"], [], [ROOM], 0, 1, relevance=True),
        "SearchQueries.recent": lambda: s.recent("u1", ["o"], None, 50, 0, 1),
        "PresenceQueries.members": lambda: p.members(ROOM),
        "PresenceQueries.watchers": lambda: p.watchers(list(USERS), set(USERS)),
        "FileQueries.file": lambda: f.file(FILES[0]),
        "FileQueries.files": lambda: f.files(list(FILES)),
        "SqliteWallets.balance": lambda: w.balance("u1"),
        "SqliteWallets.supply": w.supply,
        "SqliteWallets.op": lambda: w.op("u1", "transfer", "t0"),
        "SqliteWallets.wallet": lambda: w.wallet("u1"),
        "SqliteWallets.entry_at": lambda: w.entry_at("u1", 3),
        "SqliteWallets.history_before": lambda: w.history_before("u1", None, 1),
        "SqliteWallets.history_after": lambda: w.history_after("u1", 0, 1),
        "SqliteWallets.balances": w.balances,
        "SqliteWallets.outcomes": w.outcomes,
        "SqliteWallets.totals": w.totals,
    }


def test_every_read_is_listed() -> None:
    """A new read must be added to :func:`_reads`, with arguments that find rows."""
    listed = {name.split(" ")[0] for name in _reads(sqlite3.connect(":memory:"))}
    public = {
        f"{cls.__name__}.{name}"
        for cls in (Queries, SearchQueries, PresenceQueries, FileQueries, SqliteWallets)
        for name, _ in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in WRITES
    }
    assert public - listed == set()


def test_no_read_leaves_its_statement_unfinished(model: Path) -> None:
    conn = sqlite3.connect(model, isolation_level=None, factory=_Tracking)
    probe = sqlite3.connect(model, isolation_level=None, timeout=0)  # answers busy at once
    unfinished = []
    for name, read in _reads(conn).items():
        # A commit first, so the WAL holds a frame the read's snapshot includes.
        conn.execute("INSERT OR REPLACE INTO meta VALUES('probe', ?)", (name,))
        conn.cursors.clear()
        # The caller holds what a read returned, maybe across awaits (and COMMITs).
        answer = read()
        assert answer, f"{name} found nothing: give it arguments that find rows"
        alive = [ref for ref in conn.cursors if ref() is not None]
        busy = probe.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]
        del answer
        if alive or busy:
            unfinished.append(f"{name}: {len(alive)} cursor(s) kept, checkpoint busy={busy}")
    conn.close()
    probe.close()
    assert unfinished == []
