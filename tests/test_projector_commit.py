"""The serving projector's open transaction (service/projector.py): rows are visible through the
gateway's own connection as soon as ``head`` says so, reach the file with a COMMIT within
``commit_every_s``, and a failure puts ``head`` back to what the file holds."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.domain import events as ev
from firebreak.domain.ids import room_stream
from firebreak.service.projector import Projector
from tests.helpers import eventually

STREAM = room_stream(0)


def _entry(seq: int, event: ev.RoomEvent) -> tuple[str, int, bytes]:
    return (STREAM, seq, ev.encode(event))


def _message(n: int) -> ev.MessageSent:
    return ev.MessageSent(v=1, at=n, room_id="g", sender="a", client_id=f"m{n}", text=f"text {n}")


CREATED = ev.RoomCreated(v=1, at=0, room_id="g", kind="group", name="n", creator="a", members=("b",))


def _on_file(path: Path) -> int:
    """Messages a separate connection sees in the file (committed rows only)."""
    with contextlib.closing(sqlite3.connect(path)) as other:
        return int(other.execute("SELECT count(*) FROM messages").fetchone()[0])


class Model:
    def __init__(self, path: Path, commit_every_s: float) -> None:
        self.path = path
        self.conn = sqlite_store.connect(path)
        self.store = SqliteStore(self.conn)
        self.queries = Queries(self.conn)
        self.projector = Projector(self.store, 1, lambda applied: None, commit_every_s=commit_every_s)
        self.task = asyncio.create_task(self.projector.run())

    def feed(self, *entries: tuple[str, int, bytes]) -> None:
        for entry in entries:
            self.projector.queue.put_nowait(entry)

    async def applied_up_to(self, seq: int) -> None:
        await self.projector.wait_for(STREAM, seq, within_s=5.0)


@pytest.fixture
async def model_factory(tmp_path: Path) -> AsyncIterator[Callable[[float], Model]]:
    made: list[Model] = []

    def make(commit_every_s: float) -> Model:
        made.append(Model(tmp_path / f"rm{len(made)}.sqlite3", commit_every_s))
        return made[-1]

    yield make
    for m in made:
        m.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await m.task
        m.conn.close()


async def test_applied_rows_are_served_at_once_and_committed_on_time(
    model_factory: Callable[[float], Model],
) -> None:
    m = model_factory(0.05)
    m.feed(_entry(1, CREATED), _entry(2, _message(2)), _entry(3, _message(3)))
    await m.applied_up_to(3)
    # What head says is what the gateway's own connection serves, before any COMMIT.
    assert [r.text for r in m.queries.history_before("g", None, 10)] == ["text 2", "text 3"]

    async def two_on_file() -> bool:
        return _on_file(m.path) == 2

    await eventually(two_on_file, within_s=5, what="the COMMIT")
    assert m.store.positions() == {STREAM: 3}

    # The next batches open a new transaction, and it is committed too (nothing else is fed).
    m.feed(_entry(4, _message(4)))
    await m.applied_up_to(4)

    async def three_on_file() -> bool:
        return _on_file(m.path) == 3

    await eventually(three_on_file, within_s=5, what="the next COMMIT")


async def test_rows_wait_for_the_commit_and_close_commits(model_factory: Callable[[float], Model]) -> None:
    m = model_factory(3600.0)
    m.feed(_entry(1, CREATED), _entry(2, _message(2)))
    await m.applied_up_to(2)
    assert len(m.queries.history_before("g", None, 10)) == 1
    assert _on_file(m.path) == 0, "committed before its time: every batch pays a COMMIT again"
    m.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await m.task
    m.projector.close()
    assert _on_file(m.path) == 1


async def test_a_failed_apply_puts_head_back_to_the_file(
    model_factory: Callable[[float], Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    m = model_factory(3600.0)
    m.feed(_entry(1, CREATED), _entry(2, _message(2)))
    await m.applied_up_to(2)
    m.projector.commit()
    m.feed(_entry(3, _message(3)))
    await m.applied_up_to(3)  # applied and served, not committed

    def broken(*args: object) -> bool:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(m.store, "insert_message", broken)
    m.feed(_entry(4, _message(4)))
    with pytest.raises(sqlite3.OperationalError):
        await asyncio.wait_for(m.task, 5.0)
    # Entry 3 was rolled back with the failed batch; head must not claim it any more.
    assert m.projector.head[STREAM] == 2
    assert [r.text for r in m.queries.history_before("g", None, 10)] == ["text 2"]
    assert m.store.positions() == {STREAM: 2}
