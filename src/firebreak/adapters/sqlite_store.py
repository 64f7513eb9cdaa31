"""The SQLite read model of one DC: the write side (the projection's :class:`Store`).

One connection, used only from the gateway's event loop thread. The projector applies a batch of
events inside one transaction that also stores the new log positions, so rows and positions can
never disagree; after a crash the model resumes from the last committed position. The file is a
cache of the log: delete it and it is rebuilt.

``synchronous=NORMAL`` is deliberate: a power cut may lose the last few commits, but positions are
lost with them and the log replays them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import msgspec

from firebreak.adapters.sqlite_accounts import AccountWrites
from firebreak.adapters.sqlite_changes import ChangeWrites
from firebreak.adapters.sqlite_files import FILES_SCHEMA, FileWrites
from firebreak.adapters.sqlite_messages import MessageWrites, SearchRow
from firebreak.adapters.sqlite_wallets import WALLET_SCHEMA, SqliteWallets
from firebreak.domain.events import RoomKind
from firebreak.domain.model import MemberState, RoomState

SCHEMA_VERSION = 8
#: FTS5's in-memory index of new terms before it writes them out (``hashsize``).
FTS_HASH_BYTES = 16 * 1024 * 1024

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions(stream TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users(
    user_id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL, request_id TEXT NOT NULL, created_at INTEGER NOT NULL,
    password_gen INTEGER NOT NULL DEFAULT 0, password_request_id TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS revoked(session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
    session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, started_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, dc TEXT NOT NULL, client TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id, started_at);
CREATE TABLE IF NOT EXISTS rooms(
    room_id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, creator TEXT NOT NULL,
    partition INTEGER NOT NULL, created_at INTEGER NOT NULL,
    last_room_seq INTEGER NOT NULL DEFAULT 0, last_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS members(
    room_id TEXT NOT NULL, user_id TEXT NOT NULL, active INTEGER NOT NULL,
    joined_seq INTEGER NOT NULL, left_seq INTEGER, read_room_seq INTEGER NOT NULL,
    PRIMARY KEY(room_id, user_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members(user_id, active);
CREATE TABLE IF NOT EXISTS messages(
    room_id TEXT NOT NULL, room_seq INTEGER NOT NULL, partition INTEGER NOT NULL, seq INTEGER NOT NULL,
    sender TEXT NOT NULL, client_id TEXT NOT NULL, text TEXT NOT NULL, at INTEGER NOT NULL,
    edited_at INTEGER NOT NULL DEFAULT 0, deleted_at INTEGER NOT NULL DEFAULT 0,
    attachments TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(room_id, room_seq)) WITHOUT ROWID;
-- Edit history: each edit's log position, its id, when, and the text it replaced ('' once the
-- message is deleted).
CREATE TABLE IF NOT EXISTS message_edits(
    room_id TEXT NOT NULL, room_seq INTEGER NOT NULL, client_id TEXT NOT NULL,
    partition INTEGER NOT NULL, seq INTEGER NOT NULL, previous TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY(room_id, room_seq, client_id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_sender ON messages(sender, client_id, room_id);
-- Full-text search over live message text (adapters/sqlite_search.py). The trigram tokenizer
-- indexes every 3-character substring, so a word inside a Korean, Japanese or Chinese sentence
-- (no spaces between words) is found. rowid = the message's send time and log position
-- (search_rowid): the same in every DC, and in time order for newest-first pages.
-- tag: the room's one-trigram token (domain/search.py room_tag), so a query names the caller's rooms.
CREATE VIRTUAL TABLE IF NOT EXISTS message_text USING fts5(
    text, tag, room_id UNINDEXED, room_seq UNINDEXED, at UNINDEXED, tokenize='trigram');
CREATE TABLE IF NOT EXISTS reactions(
    room_id TEXT NOT NULL, room_seq INTEGER NOT NULL, emoji TEXT NOT NULL, user_id TEXT NOT NULL,
    at INTEGER NOT NULL, PRIMARY KEY(room_id, room_seq, emoji, user_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
    partition INTEGER NOT NULL, seq INTEGER NOT NULL, room_id TEXT NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY(partition, seq)) WITHOUT ROWID;
"""
    + WALLET_SCHEMA
    + FILES_SCHEMA
)


def connect(path: Path | str) -> sqlite3.Connection:
    """Opens (creating if needed) a read-model database in autocommit mode; transactions are explicit."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    # Checkpoint every 64 MiB of WAL instead of SQLite's 4 MiB: each checkpoint syncs the file, and
    # a rebuild rewrites the same index pages many times between checkpoints (docs/PERFORMANCE.md
    # has the rebuild rates).
    # A serving gateway turns this off and checkpoints from a worker thread (sqlite_checkpoint.py).
    conn.execute("PRAGMA wal_autocheckpoint=16384")
    # When the WAL starts over, its file is cut back to this, never below what a serving gateway's
    # WAL fills between two checkpoints: a frame past the file's end costs the kernel far more
    # than one written over an old frame (docs/PERFORMANCE.md, "The read model's WAL").
    conn.execute("PRAGMA journal_size_limit=536870912")
    conn.executescript(_SCHEMA)
    # FTS5 keeps new terms in memory up to this size before it writes them out as a segment for
    # the merges to rewrite (SQLite's default: 1 MiB, which a transaction of a few thousand
    # messages of real text overflows several times; docs/PERFORMANCE.md, "Search indexing").
    # Stored in the table's config, so it holds for every connection, and set at every open, so
    # a read model made before it gets it too; it bounds the memory of the connection that writes.
    conn.execute("INSERT INTO message_text(message_text, rank) VALUES('hashsize', ?)", (FTS_HASH_BYTES,))
    row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
    elif int(row[0]) != SCHEMA_VERSION:
        # A read model is a cache of the log: an old schema is dropped and rebuilt, never migrated.
        conn.close()
        Path(path).unlink()
        return connect(path)
    return conn


class SqliteStore(MessageWrites, ChangeWrites, AccountWrites, FileWrites):
    """Implements :class:`firebreak.domain.model.Store` over one connection."""

    #: Cached rows before the caches are dropped and refilled (bounds their memory).
    CACHE_MAX = 200_000

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn
        #: The wallet ledger's tables, on the same connection (so in the same transactions).
        self.wallets = SqliteWallets(conn)
        # Caches of the rows the projection reads and writes for nearly every event: the room (its
        # message counter) and the member (its read position). Reads hit the cache; the two hot
        # updates (room counter, read position) are written behind, once per row per
        # transaction, just before COMMIT (a room with 10 messages in a batch is updated once, not
        # 10 times). Any other statement on such a row flushes that row first, so SQL never sees
        # a stale value. A rollback drops everything. Only this store's connection writes these
        # tables; readers on it run between transactions and see committed, flushed rows.
        self._rooms: dict[str, RoomState] = {}
        self._members: dict[tuple[str, str], MemberState] = {}
        self._room_last: dict[str, tuple[int, int]] = {}  # room -> (last_room_seq, last_at), unwritten
        self._reads: dict[tuple[str, str], int] = {}  # (room, user) -> read_room_seq, unwritten
        self._search_rows: list[SearchRow] = []  # new messages' search-index rows, unwritten

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside is committed together, or rolled back (and the caches dropped)."""
        self.begin()
        try:
            yield
            self.flush()
            self.commit()
        except BaseException:
            self.rollback()
            raise

    # The same steps one by one, for a caller that commits from a worker thread (the projector
    # while catching up). Between flush() and the end of commit() nothing else may use this store.
    def begin(self) -> None:
        if len(self._rooms) > self.CACHE_MAX or len(self._members) > self.CACHE_MAX:
            self._forget()
        self._db.execute("BEGIN")

    def commit(self) -> None:
        """COMMITs (call flush() first). May run in a worker thread: sqlite3 releases the GIL
        while SQLite writes the pages, and the connection is opened for use from any thread."""
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        self._forget()
        # A commit that was handed to a worker thread may have finished (or not) when its
        # caller was cancelled: either state is consistent, and there may be nothing to undo.
        with suppress(sqlite3.OperationalError):
            self._db.execute("ROLLBACK")

    def _forget(self) -> None:
        self._rooms.clear()
        self._members.clear()
        self._room_last.clear()
        self._reads.clear()
        self._search_rows.clear()

    def flush(self) -> None:
        """Writes the rows written behind (room counters, read positions, search-index rows)."""
        self._flush_search()
        if self._room_last:
            self._db.executemany(
                "UPDATE rooms SET last_room_seq=?, last_at=? WHERE room_id=?",
                [(seq, at, room_id) for room_id, (seq, at) in self._room_last.items()],
            )
            self._room_last.clear()
        if self._reads:
            self._db.executemany(
                "UPDATE members SET read_room_seq=? WHERE room_id=? AND user_id=?",
                [(seq, room_id, user_id) for (room_id, user_id), seq in self._reads.items()],
            )
            self._reads.clear()

    def _flush_room(self, room_id: str) -> None:
        pending = self._room_last.pop(room_id, None)
        if pending is not None:
            self._db.execute(
                "UPDATE rooms SET last_room_seq=?, last_at=? WHERE room_id=?", (*pending, room_id)
            )

    def _flush_member(self, room_id: str, user_id: str) -> None:
        pending = self._reads.pop((room_id, user_id), None)
        if pending is not None:
            self._db.execute(
                "UPDATE members SET read_room_seq=? WHERE room_id=? AND user_id=?",
                (pending, room_id, user_id),
            )

    def positions(self) -> dict[str, int]:
        return {s: q for s, q in self._db.execute("SELECT stream, seq FROM positions")}

    # rooms
    def get_room(self, room_id: str) -> RoomState | None:
        cached = self._rooms.get(room_id)
        if cached is not None:
            return cached
        row = self._db.execute(
            "SELECT room_id, kind, name, partition, last_room_seq FROM rooms WHERE room_id=?", (room_id,)
        ).fetchone()
        if row is None:
            return None
        room = self._rooms[room_id] = RoomState(*row)
        return room

    def insert_room(
        self, room_id: str, kind: RoomKind, name: str, creator: str, partition: int, at: int
    ) -> None:
        self._db.execute(
            "INSERT INTO rooms(room_id, kind, name, creator, partition, created_at, last_at) "
            "VALUES(?,?,?,?,?,?,?)",
            (room_id, kind, name, creator, partition, at, at),
        )

    def rename_room(self, room_id: str, name: str) -> None:
        self._flush_room(room_id)
        self._rooms.pop(room_id, None)
        self._db.execute("UPDATE rooms SET name=? WHERE room_id=?", (name, room_id))

    def set_room_last(self, room_id: str, room_seq: int, at: int) -> None:
        cached = self.get_room(room_id)
        if cached is not None:
            self._rooms[room_id] = msgspec.structs.replace(cached, last_room_seq=room_seq)
            self._room_last[room_id] = (room_seq, at)

    # members
    def get_member(self, room_id: str, user_id: str) -> MemberState | None:
        cached = self._members.get((room_id, user_id))
        if cached is not None:
            return cached
        row = self._db.execute(
            "SELECT active, joined_seq, read_room_seq FROM members WHERE room_id=? AND user_id=?",
            (room_id, user_id),
        ).fetchone()
        if row is None:
            return None
        member = MemberState(active=bool(row[0]), joined_seq=row[1], read_room_seq=row[2])
        self._members[(room_id, user_id)] = member
        return member

    def active_members(self, room_id: str) -> list[str]:
        return [
            r[0]
            for r in self._db.execute("SELECT user_id FROM members WHERE room_id=? AND active=1", (room_id,))
        ]

    def join(self, room_id: str, user_id: str, seq: int) -> None:
        self._flush_room(room_id)  # the statement below reads the room's counter
        self._flush_member(room_id, user_id)
        self._members.pop((room_id, user_id), None)
        # A newcomer has nothing unread: their read position starts at the room's newest message.
        self._db.execute(
            "INSERT INTO members(room_id, user_id, active, joined_seq, left_seq, read_room_seq) "
            "VALUES(?1, ?2, 1, ?3, NULL, (SELECT last_room_seq FROM rooms WHERE room_id=?1)) "
            "ON CONFLICT(room_id, user_id) DO UPDATE SET active=1, joined_seq=?3, left_seq=NULL, "
            "read_room_seq=excluded.read_room_seq",
            (room_id, user_id, seq),
        )

    def leave(self, room_id: str, user_id: str, seq: int) -> None:
        self._flush_member(room_id, user_id)
        self._members.pop((room_id, user_id), None)
        self._db.execute(
            "UPDATE members SET active=0, left_seq=? WHERE room_id=? AND user_id=?", (seq, room_id, user_id)
        )

    def set_read(self, room_id: str, user_id: str, room_seq: int) -> None:
        cached = self.get_member(room_id, user_id)
        if cached is not None:
            self._members[(room_id, user_id)] = msgspec.structs.replace(cached, read_room_seq=room_seq)
            self._reads[(room_id, user_id)] = room_seq

    # positions
    def set_position(self, stream: str, seq: int) -> None:
        self._db.execute(
            "INSERT INTO positions VALUES(?,?) ON CONFLICT(stream) DO UPDATE SET seq=excluded.seq",
            (stream, seq),
        )
