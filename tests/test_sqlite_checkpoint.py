"""The read model's WAL checkpoints run in a worker thread, not inside the store's COMMITs."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_checkpoint import Checkpointer
from tests.helpers import eventually


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

    async def taken_over() -> bool:  # the store's COMMITs no longer checkpoint
        return _autocheckpoint(conn) == 0

    await eventually(taken_over, within_s=5, what="the checkpointer to take over")

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

    async def a_later_one_ran() -> bool:
        return checkpointer.runs >= runs + 2

    await eventually(a_later_one_ran, within_s=10, what="a checkpoint after the inserts")
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

    async def several_rounds() -> bool:  # none of them may checkpoint or switch SQLite's own off
        return asked >= 5

    await eventually(several_rounds, within_s=5, what="several rounds while rebuilding")
    assert checkpointer.runs == 0 and _autocheckpoint(conn) == before
    serving = True

    async def checkpointing() -> bool:
        return checkpointer.runs > 0 and _autocheckpoint(conn) == 0

    await eventually(checkpointing, within_s=5, what="checkpoints once serving")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    conn.close()
