"""The read model's WAL checkpoints run in a worker thread, not inside the store's COMMITs, and
keep the WAL from growing under steady writes."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from firebreak.adapters import sqlite_checkpoint, sqlite_store
from firebreak.adapters.sqlite_checkpoint import Checkpointer
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.domain import events as ev
from firebreak.domain.ids import room_stream
from firebreak.service.projector import Projector
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

    checkpointer = Checkpointer(path, conn, every_s=0.01)
    task = asyncio.create_task(checkpointer.run(serving=is_serving))

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


def _wal_restarts(path: Path) -> int:
    """How many times SQLite has started the WAL over: the checkpoint sequence number in the WAL
    file's header (bytes 12-16), which each restart increments."""
    with path.with_name(path.name + "-wal").open("rb") as wal:
        return int.from_bytes(wal.read(16)[12:16], "big")


async def test_under_steady_writes_the_wal_starts_over_instead_of_growing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serving projector keeps a transaction open nearly all the time: the worker thread's
    checkpoints copy the WAL but cannot finish between two COMMITs, so only the last pass, which
    the projector waits for after a COMMIT (``after_commit``), lets SQLite start the WAL over.
    Without that wait the WAL holds every page written since the load began."""
    # A last pass that took longer than applying waits would let a COMMIT in before it ends (no
    # restart that time): a slow disk's doing, not what this test is about.
    monkeypatch.setattr(sqlite_checkpoint, "FINAL_WAIT_S", 30.0)
    path = tmp_path / "rm.sqlite3"
    conn = sqlite_store.connect(path)
    checkpointer = Checkpointer(path, conn, every_s=0.02)
    projector = Projector(
        SqliteStore(conn),
        1,
        lambda applied: None,
        commit_every_s=0.01,
        after_commit=checkpointer.after_commit,
    )
    tasks = [asyncio.create_task(projector.run()), asyncio.create_task(checkpointer.run())]
    stream = room_stream(0)
    created = ev.RoomCreated(v=1, at=0, room_id="g", kind="group", name="n", creator="a", members=("b",))
    projector.queue.put_nowait((stream, 1, ev.encode(created)))
    text = "".join(chr(0xAC00 + (i * 7919) % 11172) for i in range(1500))  # many distinct trigrams
    seq = 1
    deadline = asyncio.get_running_loop().time() + 60
    # Steady writes, with no pause of their own, until a few last passes have run.
    while checkpointer.finals < 3 and asyncio.get_running_loop().time() < deadline:
        for _ in range(15):
            seq += 1
            sent = ev.MessageSent(v=1, at=seq, room_id="g", sender="a", client_id=f"m{seq}", text=text)
            projector.queue.put_nowait((stream, seq, ev.encode(sent)))
        await projector.wait_for(stream, seq, within_s=10)
    finals = checkpointer.finals
    restarts = _wal_restarts(path)
    assert checkpointer.wal_frames > 0, "what /metrics shows"
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    conn.close()
    assert finals >= 3, f"only {finals} last passes in 60 s of writes"
    # Each last pass lets the next transaction start the WAL over (the newest one may not have
    # had a transaction after it yet).
    assert restarts >= finals - 1, f"the WAL started over {restarts} times after {finals} last passes"
