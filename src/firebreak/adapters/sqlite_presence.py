"""Who may see whom, from a DC's read model: the members of a room, and the people who share a
room with a user (those who are told of that user's presence changes: docs/SECURITY.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Container, Sequence

#: Users per watchers query (far below SQLite's limit on parameters).
IN_CHUNK = 500


class PresenceQueries:
    def __init__(self, conn: sqlite3.Connection, push_max_members: int = 50) -> None:
        """``push_max_members``: only rooms of at most this many active members make watchers."""
        self._db = conn
        self._push_max = push_max_members

    def members(self, room_id: str) -> list[str]:
        """The room's active members."""
        rows = self._db.execute(
            "SELECT user_id FROM members WHERE room_id=? AND active=1 ORDER BY user_id", (room_id,)
        )
        return [str(r[0]) for r in rows]

    def watchers(self, users: Sequence[str], among: Container[str]) -> dict[str, set[str]]:
        """For each of ``users``, those of ``among`` (other than that user) who share an active
        room of at most ``push_max_members`` members with them; users without any are left out.
        One query per ``IN_CHUNK`` users: sockets that open together are answered together."""
        found: dict[str, set[str]] = {}
        unique = list(dict.fromkeys(users))
        for first in range(0, len(unique), IN_CHUNK):
            chunk = unique[first : first + IN_CHUNK]
            # A room's size is counted up to one past the limit: a big room costs no more to skip.
            rows = self._db.execute(
                "SELECT DISTINCT a.user_id, b.user_id FROM members a JOIN members b ON b.room_id=a.room_id "
                f"WHERE a.user_id IN ({','.join('?' * len(chunk))}) AND a.active=1 AND b.active=1 "
                "AND b.user_id!=a.user_id "
                "AND (SELECT COUNT(*) FROM (SELECT 1 FROM members c WHERE c.room_id=a.room_id "
                "AND c.active=1 LIMIT ?)) <= ?",
                (*chunk, self._push_max + 1, self._push_max),
            )
            for user, watcher in rows:
                if watcher in among:
                    found.setdefault(str(user), set()).add(str(watcher))
        return found
