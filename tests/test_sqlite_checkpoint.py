"""The read model's WAL checkpoints run in a worker thread, not inside the store's COMMITs."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_checkpoint import Checkpointer


def _autocheckpoint(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


async def test_checkpoints_move_the_wal_into_the_file_and_stop_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "rm.sqlite3"
    conn = sqlite_store.connect(path)
    before = _autocheckpoint(conn)
    assert before > 0
    size_at_start = path.stat().st_size
    checkpointer = Checkpointer(path, conn, every_s=0.02)
    task = asyncio.create_task(checkpointer.run())
    deadline = time.monotonic() + 5
    while _autocheckpoint(conn) != 0:  # the store's COMMITs no longer checkpoint
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)

    text = "x" * 2000
    for batch in range(20):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO events VALUES(?,?,?,?)",
            [(0, batch * 100 + i, "g", text.encode()) for i in range(100)],
        )
        conn.execute("COMMIT")

    # Everything committed reaches the database file itself, without a COMMIT doing it. (The
    # first checkpoint to finish may have started before the inserts: wait for the one after.)
    runs = checkpointer.runs
    deadline = time.monotonic() + 10
    while checkpointer.runs < runs + 2:
        assert time.monotonic() < deadline, f"checkpoints stopped: {checkpointer.last}"
        await asyncio.sleep(0.01)
    last = checkpointer.last
    assert last is not None and last[0] == 0 and last[1] == last[2], last
    assert path.stat().st_size > size_at_start + 20 * 100 * 2000

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert _autocheckpoint(conn) == before, "the automatic checkpoint is restored"
    conn.close()


async def test_while_rebuilding_sqlite_checkpoints_as_before(tmp_path: Path) -> None:
    path = tmp_path / "rm.sqlite3"
    conn = sqlite_store.connect(path)
    before = _autocheckpoint(conn)
    serving = False
    asked = 0

    def is_serving() -> bool:
        nonlocal asked
        asked += 1
        return serving

    checkpointer = Checkpointer(path, conn, serving=is_serving, every_s=0.01)
    task = asyncio.create_task(checkpointer.run())
    deadline = time.monotonic() + 5
    while asked < 5:  # several rounds: none may checkpoint or switch SQLite's own off
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    assert checkpointer.runs == 0 and _autocheckpoint(conn) == before
    serving = True
    deadline = time.monotonic() + 5
    while checkpointer.runs == 0 or _autocheckpoint(conn) != 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    conn.close()
