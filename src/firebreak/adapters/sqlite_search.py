"""Search queries over a DC's read model (the ``message_text`` FTS5 table, kept by the store as
messages are sent, edited and deleted).

Every answer depends only on the read model's rows, ordered by a total order (newest first by
search_rowid, which is made of the send time and the log position; or score, then that), so DCs
that applied the same log positions answer the same pages.
"""

from __future__ import annotations

import sqlite3

import msgspec

from firebreak.domain.search import fts_expression, like_pattern, words_expression


class SearchRow(msgspec.Struct, frozen=True):
    room_id: str
    room_seq: int
    p: int
    seq: int
    sender: str
    at: int
    #: The whole text (the snippet is made from it in Python).
    text: str


class SearchQueries:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    def rooms_of(self, user_id: str) -> list[str]:
        """The rooms the user is an active member of."""
        rows = self._db.execute("SELECT room_id FROM members WHERE user_id=? AND active=1", (user_id,))
        return [str(r[0]) for r in rows]

    def indexed(
        self,
        terms: list[str],
        also: list[str],
        room_ids: list[str],
        offset: int,
        limit: int,
        *,
        relevance: bool,
    ) -> list[SearchRow]:
        """Messages of ``room_ids`` (rooms of the user's) whose text holds every one of ``terms``
        (3 characters or more) and of ``also`` (shorter): newest first, or with ``relevance`` best
        first (bm25 over the text column alone), then newest. ``text`` is the whole (indexed) text.

        Newest first walks the index backwards in rowid (time) order and stops after the page;
        best first must score every match of the caller's rooms before it can sort them."""
        if not room_ids:
            return []
        mine = set(room_ids)
        if relevance:
            rows = self._matches(fts_expression(terms, room_ids), also, "bm25(message_text, 1.0, 0.0), ")
            found = _page(rows, mine, offset, limit, None)
        else:
            # Two ways to the same page (the same rows, filtered by the same rooms, in the same
            # order): the word's matches in the whole DC, newest first, fill it at once when the
            # caller's rooms hold a good share of them (someone in many busy rooms), and end at
            # once for a rare word; else the matches narrowed by the rooms' tags, whose cost
            # follows the caller's rooms. The first is tried for a bounded number of rows.
            rows = self._matches(words_expression(terms), also, "")
            found = _page(rows, mine, offset, limit, _SCAN_FIRST)
            if found is None:
                rows = self._matches(fts_expression(terms, room_ids), also, "")
                found = _page(rows, mine, offset, limit, None)
        out = []
        for room_id, room_seq, text in found or []:
            row = self._db.execute(
                "SELECT partition, seq, sender, at FROM messages WHERE room_id=? AND room_seq=?",
                (room_id, room_seq),
            ).fetchone()
            if row is not None:
                out.append(SearchRow(room_id, room_seq, row[0], row[1], row[2], row[3], text))
        return out

    def _matches(self, expression: str, also: list[str], order: str) -> sqlite3.Cursor:
        """Matching rows, lazily (an unfinished cursor reads no further): ``order`` first, then
        newest first. Rowids and stored columns only: a snippet or the messages row would be
        computed for every match, not only for the page."""
        where = ["message_text MATCH ?"]
        args: list[object] = [expression]
        for term in also:
            where.append("text LIKE ? ESCAPE '\\'")
            args.append(like_pattern(term))
        return self._db.execute(
            "SELECT room_id, room_seq, text FROM message_text "
            f"WHERE {' AND '.join(where)} ORDER BY {order}rowid DESC",
            args,
        )

    def recent(
        self, user_id: str, terms: list[str], room_id: str | None, per_room: int, offset: int, limit: int
    ) -> list[SearchRow]:
        """Messages among the newest ``per_room`` of each of the user's rooms (or of ``room_id``)
        holding every term as a substring (ASCII letters in any case), newest first: for terms
        the trigram index cannot answer."""
        where = ["m.user_id=?", "m.active=1", "x.room_seq>r.last_room_seq-?"]
        args: list[object] = [user_id, per_room]
        if room_id is not None:
            where.append("m.room_id=?")
            args.append(room_id)
        for term in terms:
            where.append("x.text LIKE ? ESCAPE '\\'")
            args.append(like_pattern(term))
        args += [limit, offset]
        rows = self._db.execute(
            "SELECT x.room_id, x.room_seq, x.partition, x.seq, x.sender, x.at, x.text "
            "FROM members m JOIN rooms r ON r.room_id=m.room_id "
            "JOIN messages x ON x.room_id=m.room_id "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY x.at DESC, x.room_id, x.room_seq DESC LIMIT ? OFFSET ?",
            args,
        ).fetchall()
        return [SearchRow(*r) for r in rows]


#: Rows a newest-first search reads of the word's matches in the whole DC before it narrows them
#: by the caller's rooms' tags instead.
_SCAN_FIRST = 2_000


def _page(
    rows: sqlite3.Cursor, mine: set[str], offset: int, limit: int, budget: int | None
) -> list[tuple[str, int, str]] | None:
    """Hits ``offset`` to ``offset + limit`` of ``rows`` in the caller's rooms (``mine``): a tag is
    shared by several rooms, and the whole DC's matches hold every room. None when ``budget``
    rows were read before the page was full."""
    found: list[tuple[str, int, str]] = []
    skipped = read = 0
    try:
        for room_id, room_seq, text in rows:
            read += 1
            if room_id in mine:
                if skipped < offset:
                    skipped += 1
                else:
                    found.append((room_id, room_seq, text))
                    if len(found) >= limit:
                        return found
            if budget is not None and read >= budget:
                return None
        return found
    finally:
        rows.close()
