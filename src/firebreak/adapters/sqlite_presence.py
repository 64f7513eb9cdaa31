"""Who may see whom, from a DC's read model: the members of a room, and the people who share a
room with a user (those who see that user's presence: docs/SECURITY.md)."""

from __future__ import annotations

import sqlite3


class PresenceQueries:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    def members(self, room_id: str) -> list[str]:
        """The room's active members."""
        rows = self._db.execute(
            "SELECT user_id FROM members WHERE room_id=? AND active=1 ORDER BY user_id", (room_id,)
        )
        return [str(r[0]) for r in rows]

    def watchers(self, user_id: str, among: set[str]) -> set[str]:
        """Those of ``among`` (other than ``user_id``) who share an active room with ``user_id``."""
        if not among:
            return set()
        rows = self._db.execute(
            "SELECT DISTINCT b.user_id FROM members a JOIN members b ON b.room_id=a.room_id "
            "WHERE a.user_id=? AND a.active=1 AND b.active=1 AND b.user_id!=?",
            (user_id, user_id),
        )
        return {str(r[0]) for r in rows} & among
