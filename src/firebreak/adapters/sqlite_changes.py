"""The read model's writes for message changes: the stored client events a deletion blanks,
edits, deletions and reactions (part of :class:`~firebreak.adapters.sqlite_store.SqliteStore`)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from firebreak.domain.model import MessageState
from firebreak.domain.search import index_text, search_rowid


class ChangeWrites:
    """Statements on the store's connection; none touches the rows the store caches (rooms,
    members), so they need no flush first; those on the search index write the index rows
    written behind first (sqlite_messages.py)."""

    _db: sqlite3.Connection

    if TYPE_CHECKING:

        def _flush_search(self) -> None: ...

    def event_body(self, partition: int, seq: int) -> bytes | None:
        row = self._db.execute(
            "SELECT body FROM events WHERE partition=? AND seq=?", (partition, seq)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def replace_event(self, partition: int, seq: int, body: bytes) -> None:
        self._db.execute("UPDATE events SET body=? WHERE partition=? AND seq=?", (body, partition, seq))

    # edits and deletes
    def get_message(self, room_id: str, room_seq: int) -> MessageState | None:
        row = self._db.execute(
            "SELECT sender, at, deleted_at FROM messages WHERE room_id=? AND room_seq=?", (room_id, room_seq)
        ).fetchone()
        return None if row is None else MessageState(sender=row[0], at=row[1], deleted=row[2] != 0)

    def edit_message(
        self, room_id: str, room_seq: int, partition: int, seq: int, client_id: str, text: str, at: int
    ) -> bool:
        cur = self._db.execute(
            "INSERT INTO message_edits SELECT room_id, room_seq, ?, ?, ?, text, ? FROM messages "
            "WHERE room_id=? AND room_seq=? ON CONFLICT DO NOTHING",
            (client_id, partition, seq, at, room_id, room_seq),
        )
        if cur.rowcount != 1:
            return False
        self._db.execute(
            "UPDATE messages SET text=?, edited_at=? WHERE room_id=? AND room_seq=?",
            (text, at, room_id, room_seq),
        )
        sent = self._db.execute(
            "SELECT partition, seq, at FROM messages WHERE room_id=? AND room_seq=?", (room_id, room_seq)
        ).fetchone()
        self._flush_search()
        self._db.execute(
            "UPDATE message_text SET text=? WHERE rowid=?",
            (index_text(text), search_rowid(sent[2], sent[0], sent[1])),
        )
        return True

    def delete_message(self, room_id: str, room_seq: int, at: int) -> list[tuple[int, int]]:
        key = (room_id, room_seq)
        sent = self._db.execute(
            "SELECT partition, seq, at FROM messages WHERE room_id=? AND room_seq=?", key
        ).fetchone()
        if sent is None:
            return []
        edits = self._db.execute(
            "SELECT partition, seq FROM message_edits WHERE room_id=? AND room_seq=? ORDER BY seq", key
        ).fetchall()
        self._db.execute(
            "UPDATE messages SET text='', attachments='', deleted_at=? WHERE room_id=? AND room_seq=?",
            (at, *key),
        )
        self._db.execute("UPDATE message_edits SET previous='' WHERE room_id=? AND room_seq=?", key)
        self._flush_search()
        self._db.execute("DELETE FROM message_text WHERE rowid=?", (search_rowid(sent[2], sent[0], sent[1]),))
        self._db.execute("DELETE FROM reactions WHERE room_id=? AND room_seq=?", key)
        return [(sent[0], sent[1]), *((p, s) for p, s in edits)]

    # reactions
    def add_reaction(self, room_id: str, room_seq: int, emoji: str, user_id: str, at: int) -> bool:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO reactions VALUES(?,?,?,?,?)", (room_id, room_seq, emoji, user_id, at)
        )
        return cur.rowcount == 1

    def remove_reaction(self, room_id: str, room_seq: int, emoji: str, user_id: str) -> bool:
        cur = self._db.execute(
            "DELETE FROM reactions WHERE room_id=? AND room_seq=? AND emoji=? AND user_id=?",
            (room_id, room_seq, emoji, user_id),
        )
        return cur.rowcount == 1
