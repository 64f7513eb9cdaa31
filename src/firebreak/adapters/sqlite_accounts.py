"""The read model's writes for accounts: users, passwords and sessions (part of
:class:`~firebreak.adapters.sqlite_store.SqliteStore`)."""

from __future__ import annotations

import sqlite3


class AccountWrites:
    """Statements on the store's connection; none touches the rows the store caches (rooms,
    members), so they need no flush first."""

    _db: sqlite3.Connection

    def insert_user(
        self, user_id: str, username: str, password_hash: str, display_name: str, request_id: str, at: int
    ) -> bool:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO users(user_id, username, password_hash, display_name, request_id, "
            "created_at) VALUES(?,?,?,?,?,?)",
            (user_id, username, password_hash, display_name, request_id, at),
        )
        return cur.rowcount == 1

    def set_display_name(self, user_id: str, display_name: str) -> None:
        self._db.execute("UPDATE users SET display_name=? WHERE user_id=?", (display_name, user_id))

    def revoke_session(self, session_id: str, user_id: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO revoked VALUES(?,?)", (session_id, user_id))
        self._db.execute("DELETE FROM sessions WHERE session_id=?", (session_id,))

    def password_gen(self, user_id: str) -> int | None:
        row = self._db.execute("SELECT password_gen FROM users WHERE user_id=?", (user_id,)).fetchone()
        return None if row is None else int(row[0])

    def set_password(self, user_id: str, password_hash: str, request_id: str) -> None:
        self._db.execute(
            "UPDATE users SET password_hash=?, password_gen=password_gen+1, password_request_id=? "
            "WHERE user_id=?",
            (password_hash, request_id, user_id),
        )

    def start_session(
        self, session_id: str, user_id: str, started_at: int, expires_at: int, dc: str, client: str
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO sessions SELECT ?,?,?,?,?,? "
            "WHERE NOT EXISTS (SELECT 1 FROM revoked WHERE session_id=?)",
            (session_id, user_id, started_at, expires_at, dc, client, session_id),
        )

    def has_session(self, user_id: str, session_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM sessions WHERE session_id=? AND user_id=?", (session_id, user_id)
        ).fetchone()
        return row is not None

    def end_sessions(self, user_id: str, keep: str) -> list[str]:
        ended = [
            r[0]
            for r in self._db.execute(
                "SELECT session_id FROM sessions WHERE user_id=? AND session_id!=? ORDER BY session_id",
                (user_id, keep),
            )
        ]
        self._db.executemany("INSERT OR IGNORE INTO revoked VALUES(?,?)", [(s, user_id) for s in ended])
        self._db.execute("DELETE FROM sessions WHERE user_id=? AND session_id!=?", (user_id, keep))
        return ended
