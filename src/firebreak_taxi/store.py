"""The taxi site's own SQLite database: the users it has seen, their rides, its sessions (with the
provider's tokens) and the sign-ins under way (state, nonce, PKCE verifier)."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    sub TEXT PRIMARY KEY, name TEXT NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rides (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sub TEXT NOT NULL, pickup TEXT NOT NULL,
    destination TEXT NOT NULL, requested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, sub TEXT NOT NULL, access_token TEXT NOT NULL, refresh_token TEXT,
    id_token TEXT NOT NULL, expires_at REAL NOT NULL, dc TEXT NOT NULL,
    refreshes INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS logins (
    state TEXT PRIMARY KEY, nonce TEXT NOT NULL, verifier TEXT NOT NULL, created_at REAL NOT NULL);
"""


def _key(cookie: str) -> str:
    """Sessions are kept under a hash of the cookie: a copy of the database signs no one in."""
    return hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    sub: str
    access_token: str
    refresh_token: str | None
    id_token: str
    expires_at: float
    #: The DC address the site last talked to for this session.
    dc: str
    refreshes: int


@dataclass(frozen=True)
class Ride:
    id: int
    pickup: str
    destination: str
    requested_at: float


@dataclass(frozen=True)
class PendingLogin:
    nonce: str
    verifier: str
    created_at: float


class TaxiStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # Sign-ins under way.
    def begin_login(self, state: str, nonce: str, verifier: str) -> None:
        self._db.execute("INSERT INTO logins VALUES (?, ?, ?, ?)", (state, nonce, verifier, time.time()))

    def take_login(self, state: str) -> PendingLogin | None:
        """The sign-in started with ``state``, once: a second callback with it finds nothing."""
        row = self._db.execute(
            "DELETE FROM logins WHERE state = ? RETURNING nonce, verifier, created_at", (state,)
        ).fetchone()
        return PendingLogin(*row) if row else None

    def forget_logins_before(self, when: float) -> None:
        self._db.execute("DELETE FROM logins WHERE created_at < ?", (when,))

    # Users and rides.
    def saw_user(self, sub: str, name: str) -> None:
        now = time.time()
        self._db.execute(
            "INSERT INTO users VALUES (?, ?, ?, ?) ON CONFLICT (sub) DO UPDATE SET name = ?, last_seen = ?",
            (sub, name, now, now, name, now),
        )

    def user_name(self, sub: str) -> str | None:
        row = self._db.execute("SELECT name FROM users WHERE sub = ?", (sub,)).fetchone()
        return str(row[0]) if row else None

    def add_ride(self, sub: str, pickup: str, destination: str) -> int:
        cur = self._db.execute(
            "INSERT INTO rides (sub, pickup, destination, requested_at) VALUES (?, ?, ?, ?)",
            (sub, pickup, destination, time.time()),
        )
        return int(cur.lastrowid or 0)

    def rides(self, sub: str) -> list[Ride]:
        rows = self._db.execute(
            "SELECT id, pickup, destination, requested_at FROM rides WHERE sub = ? ORDER BY id DESC", (sub,)
        ).fetchall()
        return [Ride(*row) for row in rows]

    # Sessions.
    def put_session(self, cookie: str, session: Session) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _key(cookie),
                session.sub,
                session.access_token,
                session.refresh_token,
                session.id_token,
                session.expires_at,
                session.dc,
                session.refreshes,
                time.time(),
            ),
        )

    def session(self, cookie: str) -> Session | None:
        row = self._db.execute(
            "SELECT sub, access_token, refresh_token, id_token, expires_at, dc, refreshes"
            " FROM sessions WHERE id = ?",
            (_key(cookie),),
        ).fetchone()
        return Session(*row) if row else None

    def drop_session(self, cookie: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE id = ?", (_key(cookie),))
