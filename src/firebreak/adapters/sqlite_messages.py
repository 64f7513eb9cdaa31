"""The read model's writes for new messages: the message, its search text and its event for
the catch-up log (part of :class:`~firebreak.adapters.sqlite_store.SqliteStore`)."""

from __future__ import annotations

import sqlite3

from firebreak.domain.search import index_text, room_tag, search_rowid

#: A search-index row written behind: (rowid, text, tag, room_id, room_seq, at).
SearchRow = tuple[int, str, str, str, int, int]


class MessageWrites:
    """Statements on the store's connection; none touches the rows the store caches (rooms,
    members), so they need no flush first.

    A message's search-index row is written behind, with the others, at the store's flush after
    each batch, in rowid order: FTS5 writes its in-memory terms out as a segment whenever a row's
    rowid is not above the last one's in the transaction, and a serving gateway's batches hold the
    entries of every partition as they arrived, whose rowids (send time first) go back at every
    switch; sorted, a batch's rows make one run. Holding them until the COMMIT, so that a whole
    transaction's would, stalled the event loop at each COMMIT (docs/PERFORMANCE.md, "Search
    indexing")."""

    _db: sqlite3.Connection
    _search_rows: list[SearchRow]

    def insert_message(
        self,
        room_id: str,
        room_seq: int,
        partition: int,
        seq: int,
        sender: str,
        client_id: str,
        text: str,
        at: int,
    ) -> bool:
        # One statement for check and insert (a separate SELECT showed in the apply profile). The
        # conflict target is the client-id index only: a clash on (room_id, room_seq) would be a
        # bug and still raises.
        cur = self._db.execute(
            "INSERT INTO messages(room_id, room_seq, partition, seq, sender, client_id, text, at) "
            "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(sender, client_id, room_id) DO NOTHING",
            (room_id, room_seq, partition, seq, sender, client_id, text, at),
        )
        if cur.rowcount != 1:
            return False
        self._search_rows.append(
            (search_rowid(at, partition, seq), index_text(text), room_tag(room_id), room_id, room_seq, at)
        )
        return True

    def _flush_search(self) -> None:
        """Writes the search-index rows written behind, in rowid order."""
        if self._search_rows:
            self._search_rows.sort()
            self._db.executemany(
                "INSERT INTO message_text(rowid, text, tag, room_id, room_seq, at) VALUES(?,?,?,?,?,?)",
                self._search_rows,
            )
            self._search_rows.clear()

    def append_event(self, partition: int, seq: int, room_id: str, body: bytes) -> None:
        self._db.execute("INSERT INTO events VALUES(?,?,?,?)", (partition, seq, room_id, body))
