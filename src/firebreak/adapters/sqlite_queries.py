"""Read queries over a DC's read model, for the API and the WebSocket catch-up.

Queries run on the event loop thread between projector batches, so they always see a state that
corresponds to a consistent set of log positions.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence

from firebreak.adapters.sqlite_rows import MembershipRow, MessageRow, RoomRow, SessionRow, UserRow
from firebreak.adapters.sqlite_wallets import WALLET_DIGEST_TABLES

_MSG_COLS = (
    "room_id, room_seq, partition, seq, sender, client_id, text, at, edited_at, deleted_at, attachments"
)
_ROOM_COLS = "room_id, kind, name, creator, partition, last_room_seq, last_at"

#: Tables whose contents must be identical in every DC that has applied the same log positions.
DIGEST_TABLES = {
    "users": "user_id",
    "revoked": "session_id",
    "sessions": "session_id",
    "rooms": "room_id",
    "members": "room_id, user_id",
    "messages": "room_id, room_seq",
    "message_edits": "room_id, room_seq, client_id",
    "reactions": "room_id, room_seq, emoji, user_id",
    "events": "partition, seq",
    "message_text": "rowid",
    "files": "file_id",
    **WALLET_DIGEST_TABLES,
}


class Queries:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    # users
    def user_by_username(self, username: str) -> UserRow | None:
        return self._user("username", username)

    def user_by_id(self, user_id: str) -> UserRow | None:
        return self._user("user_id", user_id)

    def _user(self, column: str, value: str) -> UserRow | None:
        row = self._db.execute(
            "SELECT user_id, username, password_hash, display_name, request_id, password_gen, "
            f"password_request_id FROM users WHERE {column}=?",
            (value,),
        ).fetchone()
        return None if row is None else UserRow(*row)

    def display_names(self, user_ids: list[str]) -> dict[str, tuple[str, str]]:
        """user_id -> (username, display_name) for the known ones."""
        out: dict[str, tuple[str, str]] = {}
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for uid, uname, dname in self._db.execute(
                f"SELECT user_id, username, display_name FROM users WHERE user_id IN ({marks})", chunk
            ):
                out[uid] = (uname, dname)
        return out

    def is_revoked(self, session_id: str) -> bool:
        return (
            self._db.execute("SELECT 1 FROM revoked WHERE session_id=?", (session_id,)).fetchone() is not None
        )

    def sessions_of(self, user_id: str, now_s: int, limit: int) -> list[SessionRow]:
        """The user's live sessions that have not expired, newest first, at most ``limit``."""
        rows = self._db.execute(
            "SELECT session_id, started_at, expires_at, dc, client FROM sessions "
            "WHERE user_id=? AND expires_at>=? ORDER BY started_at DESC, session_id LIMIT ?",
            (user_id, now_s, limit),
        ).fetchall()
        return [SessionRow(*r) for r in rows]

    def session_owner(self, session_id: str) -> str | None:
        """The user a session belongs to, live or ended; None if this DC does not know it."""
        row = self._db.execute(
            "SELECT user_id FROM sessions WHERE session_id=? UNION ALL "
            "SELECT user_id FROM revoked WHERE session_id=? LIMIT 1",
            (session_id, session_id),
        ).fetchone()
        return None if row is None else str(row[0])

    # rooms
    def room(self, room_id: str) -> RoomRow | None:
        row = self._db.execute(f"SELECT {_ROOM_COLS} FROM rooms WHERE room_id=?", (room_id,)).fetchone()
        return None if row is None else RoomRow(*row)

    def is_active_member(self, room_id: str, user_id: str) -> bool:
        row = self._db.execute(
            "SELECT active FROM members WHERE room_id=? AND user_id=?", (room_id, user_id)
        ).fetchone()
        return row is not None and bool(row[0])

    def direct_room(self, user_a: str, user_b: str) -> str | None:
        """The 1:1 room of two users, whatever its id was made with (ids made before they were
        keyed included); the oldest if ever there were two."""
        row = self._db.execute(
            "SELECT r.room_id FROM members a JOIN members b ON b.room_id=a.room_id AND b.user_id=? "
            "JOIN rooms r ON r.room_id=a.room_id "
            "WHERE a.user_id=? AND r.kind='direct' ORDER BY r.created_at, r.room_id LIMIT 1",
            (user_b, user_a),
        ).fetchone()
        return None if row is None else str(row[0])

    def memberships(self, room_id: str) -> list[MembershipRow]:
        return [
            MembershipRow(*r)
            for r in self._db.execute(
                "SELECT user_id, joined_seq, read_room_seq FROM members "
                "WHERE room_id=? AND active=1 ORDER BY user_id",
                (room_id,),
            )
        ]

    def read_position(self, room_id: str, user_id: str) -> int:
        """The member's read position (room_seq), 0 if not a member."""
        row = self._db.execute(
            "SELECT read_room_seq FROM members WHERE room_id=? AND user_id=?", (room_id, user_id)
        ).fetchone()
        return int(row[0]) if row is not None else 0

    def unread_count(self, room_id: str, seq: int, room_seq: int) -> int:
        """KakaoTalk's number for one message (see service.rooms.unread_counts), counted in SQLite
        rather than by loading every member: a send answers this for rooms of any size."""
        row = self._db.execute(
            "SELECT count(*) FROM members WHERE room_id=? AND active=1 AND joined_seq<=? AND read_room_seq<?",
            (room_id, seq, room_seq),
        ).fetchone()
        return int(row[0])

    def unread_counts(self, room_id: str, first_room_seq: int, last_room_seq: int) -> dict[int, int]:
        """room_seq -> :meth:`unread_count` for each message of the room in [first, last], in one
        statement (a batch send answers up to 100 at once)."""
        rows = self._db.execute(
            "SELECT m.room_seq, (SELECT count(*) FROM members x WHERE x.room_id=m.room_id AND x.active=1 "
            "  AND x.joined_seq<=m.seq AND x.read_room_seq<m.room_seq) "
            "FROM messages m WHERE m.room_id=? AND m.room_seq BETWEEN ? AND ?",
            (room_id, first_room_seq, last_room_seq),
        ).fetchall()
        return {int(room_seq): int(count) for room_seq, count in rows}

    def rooms_of(self, user_id: str) -> list[tuple[RoomRow, int, int]]:
        """The user's rooms, newest activity first, each with (read position, unread count)."""
        rows = self._db.execute(
            f"SELECT {', '.join('r.' + c.strip() for c in _ROOM_COLS.split(','))}, m.read_room_seq, "
            "(SELECT count(*) FROM messages x WHERE x.room_id=r.room_id AND x.room_seq>m.read_room_seq "
            "  AND x.sender!=m.user_id) "
            "FROM members m JOIN rooms r ON r.room_id=m.room_id WHERE m.user_id=? AND m.active=1 "
            "ORDER BY r.last_at DESC, r.room_id",
            (user_id,),
        ).fetchall()
        return [(RoomRow(*r[:7]), r[7], r[8]) for r in rows]

    # messages
    def message(self, room_id: str, room_seq: int) -> MessageRow | None:
        row = self._db.execute(
            f"SELECT {_MSG_COLS} FROM messages WHERE room_id=? AND room_seq=?", (room_id, room_seq)
        ).fetchone()
        return None if row is None else MessageRow(*row)

    def message_by_client_id(
        self, sender: str, client_id: str, room_id: str | None = None
    ) -> MessageRow | None:
        """The sender's message with this client id: in ``room_id``, or in any room if None."""
        args: tuple[str, ...]
        if room_id is None:
            sql = f"SELECT {_MSG_COLS} FROM messages WHERE sender=? AND client_id=? LIMIT 1"
            args = (sender, client_id)
        else:
            sql = f"SELECT {_MSG_COLS} FROM messages WHERE sender=? AND client_id=? AND room_id=?"
            args = (sender, client_id, room_id)
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else MessageRow(*row)

    def messages_by_client_ids(
        self, sender: str, client_ids: Sequence[str], room_id: str | None = None
    ) -> dict[str, MessageRow]:
        """The sender's messages with these client ids (one statement for a whole batch): in
        ``room_id``, or in any room if None (then one of them per id, as
        :meth:`message_by_client_id`)."""
        if not client_ids:
            return {}
        marks = ",".join("?" * len(client_ids))
        # The room is filtered here, not in SQL: with "AND room_id=?" SQLite picks the primary key
        # and scans the whole room (it showed in a gateway's profile under batch sends).
        sql = f"SELECT {_MSG_COLS} FROM messages WHERE sender=? AND client_id IN ({marks})"
        found: dict[str, MessageRow] = {}
        for row in self._db.execute(sql, (sender, *client_ids)):
            message = MessageRow(*row)
            if room_id is None or message.room_id == room_id:
                found.setdefault(message.client_id, message)
        return found

    def files_in_room(self, room_id: str, file_ids: list[str]) -> set[str]:
        """Which of ``file_ids`` are files stored in ``room_id`` (docs/FILES.md)."""
        marks = ",".join("?" * len(file_ids))
        rows = self._db.execute(
            f"SELECT file_id FROM files WHERE room_id=? AND file_id IN ({marks})", (room_id, *file_ids)
        )
        return {str(r[0]) for r in rows}

    def history_before(self, room_id: str, before: int | None, limit: int) -> list[MessageRow]:
        """Up to ``limit`` messages older than ``before`` (newest when None), oldest first."""
        bound = before if before is not None else 1 << 62
        rows = self._db.execute(
            f"SELECT {_MSG_COLS} FROM messages WHERE room_id=? AND room_seq<? ORDER BY room_seq DESC LIMIT ?",
            (room_id, bound, limit),
        ).fetchall()
        return [MessageRow(*r) for r in reversed(rows)]

    def history_after(self, room_id: str, after: int, limit: int) -> list[MessageRow]:
        rows = self._db.execute(
            f"SELECT {_MSG_COLS} FROM messages WHERE room_id=? AND room_seq>? ORDER BY room_seq LIMIT ?",
            (room_id, after, limit),
        ).fetchall()
        return [MessageRow(*r) for r in rows]

    # catch-up
    def catch_up(
        self, user_id: str, partition: int, after: int, upto: int, limit: int
    ) -> list[tuple[int, bytes]]:
        """Events of ``partition`` in (after, upto] of rooms the user belonged to at that event."""
        return self._db.execute(
            "SELECT e.seq, e.body FROM members m JOIN events e ON e.room_id=m.room_id "
            "WHERE m.user_id=? AND e.partition=? AND e.seq>? AND e.seq<=? AND e.seq>=m.joined_seq "
            "AND (m.left_seq IS NULL OR e.seq<=m.left_seq) ORDER BY e.seq LIMIT ?",
            (user_id, partition, after, upto, limit),
        ).fetchall()

    def reactions(self, room_id: str, first: int, last: int) -> dict[int, list[tuple[str, str]]]:
        """room_seq -> [(emoji, user_id)] for the room's messages in [first, last], in the order
        the reactions were made."""
        out: dict[int, list[tuple[str, str]]] = {}
        for room_seq, emoji, user_id in self._db.execute(
            "SELECT room_seq, emoji, user_id FROM reactions WHERE room_id=? AND room_seq BETWEEN ? AND ? "
            "ORDER BY room_seq, at, user_id, emoji",
            (room_id, first, last),
        ):
            out.setdefault(int(room_seq), []).append((str(emoji), str(user_id)))
        return out

    def edit_position(self, room_id: str, room_seq: int, client_id: str) -> tuple[int, int] | None:
        """The log position (partition, seq) of the message's edit with this id, if applied."""
        row = self._db.execute(
            "SELECT partition, seq FROM message_edits WHERE room_id=? AND room_seq=? AND client_id=?",
            (room_id, room_seq, client_id),
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def edit_history(self, room_id: str, room_seq: int) -> list[tuple[str, int]]:
        """The texts a message had before each edit, oldest first, with each edit's time."""
        return [
            (str(text), int(at))
            for text, at in self._db.execute(
                "SELECT previous, at FROM message_edits WHERE room_id=? AND room_seq=? "
                "ORDER BY partition, seq",
                (room_id, room_seq),
            )
        ]

    def event_body(self, partition: int, seq: int) -> bytes | None:
        """The applied room event at a log position (as pushed to clients), if it was accepted."""
        row = self._db.execute(
            "SELECT body FROM events WHERE partition=? AND seq=?", (partition, seq)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def creation_body(self, room_id: str) -> bytes | None:
        """The room's ``room_created`` event, found at its members' earliest join (the creation
        itself); None if that is not the creation (every first member left and came back)."""
        row = self._db.execute(
            "SELECT e.body FROM events e WHERE e.partition=(SELECT partition FROM rooms WHERE room_id=?) "
            "AND e.seq=(SELECT MIN(joined_seq) FROM members WHERE room_id=?)",
            (room_id, room_id),
        ).fetchone()
        return None if row is None else bytes(row[0])

    # operations
    def digest(self) -> dict[str, str]:
        """A sha256 per table of the rows that every DC must agree on."""
        out: dict[str, str] = {}
        for table, order in DIGEST_TABLES.items():
            h = hashlib.sha256()
            for row in self._db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                h.update(repr(row).encode())
            out[table] = h.hexdigest()
        return out

    def counts(self) -> dict[str, int]:
        return {t: self._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in DIGEST_TABLES}
