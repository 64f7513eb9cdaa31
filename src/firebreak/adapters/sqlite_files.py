"""The read model's table of stored files (docs/FILES.md): written by the projection through
:class:`FileWrites` (part of the store), read by :class:`FileQueries`."""

from __future__ import annotations

import sqlite3

import msgspec

from firebreak.domain.events import FileStored

FILES_SCHEMA = """
CREATE TABLE IF NOT EXISTS files(
    file_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, uploader TEXT NOT NULL, name TEXT NOT NULL,
    size INTEGER NOT NULL, content_type TEXT NOT NULL, sha256 TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, thumb_size INTEGER NOT NULL,
    thumb_type TEXT NOT NULL, at INTEGER NOT NULL, partition INTEGER NOT NULL, seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_room ON files(room_id, at);
"""

_COLUMNS = (
    "file_id, room_id, uploader, name, size, content_type, sha256, width, height, thumb_size, thumb_type, at"
)


class FileRow(msgspec.Struct, frozen=True):
    file_id: str
    room_id: str
    uploader: str
    name: str
    size: int
    content_type: str
    sha256: str
    width: int
    height: int
    thumb_size: int
    thumb_type: str
    at: int


class FileWrites:
    _db: sqlite3.Connection

    def insert_file(self, event: FileStored, partition: int, seq: int) -> bool:
        cur = self._db.execute(
            f"INSERT INTO files({_COLUMNS}, partition, seq) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT DO NOTHING",
            (
                event.file_id,
                event.room_id,
                event.uploader,
                event.name,
                event.size,
                event.content_type,
                event.sha256,
                event.width,
                event.height,
                event.thumb_size,
                event.thumb_type,
                event.at,
                partition,
                seq,
            ),
        )
        return cur.rowcount == 1

    def room_has_files(self, room_id: str, file_ids: tuple[str, ...]) -> bool:
        if len(set(file_ids)) != len(file_ids):
            return False
        marks = ",".join("?" * len(file_ids))
        (found,) = self._db.execute(
            f"SELECT count(*) FROM files WHERE room_id=? AND file_id IN ({marks})", (room_id, *file_ids)
        ).fetchone()
        return bool(found == len(file_ids))

    def set_attachments(self, room_id: str, room_seq: int, file_ids: tuple[str, ...]) -> None:
        self._db.execute(
            "UPDATE messages SET attachments=? WHERE room_id=? AND room_seq=?",
            (" ".join(file_ids), room_id, room_seq),
        )


class FileQueries:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    def file(self, file_id: str) -> FileRow | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM files WHERE file_id=?", (file_id,)).fetchone()
        return None if row is None else FileRow(*row)

    def files(self, file_ids: list[str]) -> list[FileRow]:
        marks = ",".join("?" * len(file_ids))
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM files WHERE file_id IN ({marks})", file_ids)
        return [FileRow(*r) for r in rows]
