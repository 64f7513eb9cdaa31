"""Group commit (adapters/group_commit.py) against a log that records what it is asked to write:
the first append goes alone, what queues behind it goes next as one batch in the order queued,
a failed batch fails what queued behind it too (telling each at once), and each append learns
its own sequence."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from firebreak.adapters.group_commit import GroupCommit
from firebreak.adapters.nats_log import AppendAck
from firebreak.errors import Unavailable


class RecordingLog:
    """A stream that answers each write when the test lets it (``release``)."""

    def __init__(self) -> None:
        self.writes: list[list[bytes]] = []
        self.seq = 0
        self.fail_next = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def _write(self, entries: list[bytes]) -> AppendAck:
        self.writes.append(entries)
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise Unavailable("no quorum")
        self.seq += len(entries)
        return AppendAck(stream="ROOMS_0", seq=self.seq, duplicate=False)

    async def append(self, subject: str, data: bytes, msg_id: str) -> AppendAck:
        return await self._write([data])

    async def append_entries(self, entries: list[tuple[str, bytes]]) -> AppendAck:
        return await self._write([data for _, data in entries])


async def test_what_queues_behind_a_write_goes_next_as_one_batch_in_order() -> None:
    log = RecordingLog()
    log.gate.clear()
    group = GroupCommit(log)
    first = group.append("rooms.0.a", b"m0", "id0")
    await asyncio.sleep(0)  # the writer takes m0 alone
    rest = [group.append("rooms.0.a", f"m{i}".encode(), f"id{i}") for i in range(1, 6)]
    log.gate.set()
    acks = await asyncio.gather(first, *rest)
    assert log.writes == [[b"m0"], [b"m1", b"m2", b"m3", b"m4", b"m5"]]
    assert [ack.seq for ack in acks] == [1, 2, 3, 4, 5, 6]


async def test_a_failed_batch_fails_what_queued_behind_it_and_later_appends_are_written() -> None:
    log = RecordingLog()
    log.gate.clear()
    group = GroupCommit(log)
    told: list[tuple[str, str]] = []

    def tell(name: str) -> Callable[[BaseException], None]:
        return lambda exc: told.append((name, str(exc)))

    first = group.append("rooms.0.a", b"m0", "id0", tell("m0"))
    await asyncio.sleep(0)
    log.fail_next = True
    behind = [group.append("rooms.0.a", f"m{i}".encode(), f"id{i}", tell(f"m{i}")) for i in (1, 2)]
    seen_by_waiters: list[list[str]] = []

    async def waiter() -> None:
        with pytest.raises(Unavailable):
            await behind[1]
        seen_by_waiters.append([name for name, _ in told])

    waiting = asyncio.create_task(waiter())
    log.gate.set()
    with pytest.raises(Unavailable, match="no quorum"):
        await first
    later = group.append("rooms.0.a", b"m3", "id3")
    for doomed in behind:
        with pytest.raises(Unavailable, match="not written") as refused:
            await doomed
        assert refused.value.retry_after_s, "a 503 that says to send again"
    await waiting
    assert seen_by_waiters == [["m0", "m1", "m2"]], "each failure told, in order, before any waiter runs"
    assert [error for _, error in told] == ["no quorum"] + [str(refused.value)] * 2
    assert (await later).seq == 1, "an append queued after the failure is written"
    assert log.writes == [[b"m0"], [b"m3"]], "what queued behind the failed write was never sent"


async def test_batches_are_cut_at_the_entry_limit() -> None:
    log = RecordingLog()
    log.gate.clear()
    group = GroupCommit(log, max_entries=2)
    futures = [group.append("rooms.0.a", bytes([i]), str(i)) for i in range(5)]
    log.gate.set()
    await asyncio.gather(*futures)
    # All five queued before the writer ran: it takes them two by two.
    assert [len(w) for w in log.writes] == [2, 2, 1]


async def test_subjects_are_written_independently() -> None:
    log = RecordingLog()
    group = GroupCommit(log)
    log.gate.clear()
    a = group.append("rooms.0.a", b"a", "a")
    b = group.append("rooms.0.b", b"b", "b")
    await asyncio.sleep(0)
    assert sorted(log.writes) == [[b"a"], [b"b"]], "both in flight at once"
    log.gate.set()
    await asyncio.gather(a, b)
    assert sorted(log.writes) == [[b"a"], [b"b"]]
