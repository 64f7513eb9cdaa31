"""The reader's one rule, whichever path an entry comes by: hand on exactly the next sequence, skip
what was handed on already, and treat a jump as a gap to pull."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from firebreak.adapters import nats_connect
from firebreak.adapters.replica_reader import Entry, ReplicaReader
from firebreak.localcluster import LocalCluster
from tests.helpers import eventually


class _FakeNats:
    def new_inbox(self) -> str:
        return "_INBOX.test"


def _pushed(seq: int) -> Msg:
    fake: Any = type("M", (), {"headers": {"Nats-Sequence": str(seq)}, "data": f"e{seq}".encode()})()
    return cast(Msg, fake)


async def test_push_hands_on_in_order_skips_repeats_and_flags_gaps() -> None:
    out: asyncio.Queue[Entry] = asyncio.Queue()
    reader = ReplicaReader(cast(NATS, _FakeNats()), "ROOMS_0", "fbc.rooms.0.>", 1, out)
    for seq in (1, 2, 2, 1, 3):
        await reader._on_committed(_pushed(seq))
    assert [out.get_nowait()[1] for _ in range(out.qsize())] == [1, 2, 3]
    assert reader.next_seq == 4 and reader.pushed == 3 and not reader._gap

    await reader._on_committed(_pushed(6))  # 4 and 5 were lost on the way: pull them
    assert out.empty() and reader.next_seq == 4 and reader._gap

    # The pull path fills the gap through the same rule; a late push of 5 is then skipped.
    assert reader._accept(4, b"e4") and reader._accept(5, b"e5")
    await reader._on_committed(_pushed(5))
    await reader._on_committed(_pushed(6))
    assert [out.get_nowait()[1] for _ in range(out.qsize())] == [4, 5, 6]


async def test_own_append_asks_for_a_read_only_when_not_yet_delivered() -> None:
    out: asyncio.Queue[Entry] = asyncio.Queue()
    reader = ReplicaReader(cast(NATS, _FakeNats()), "ROOMS_0", "fbc.rooms.0.>", 1, out)
    await reader._on_committed(_pushed(1))
    reader.ring(1)  # already delivered by push
    assert not reader._wake.is_set()
    reader.ring(2)
    assert reader._wake.is_set() and reader._want == 2


async def test_catch_up_reads_the_replica_to_its_end_in_large_pulls_under_backpressure(
    cluster: LocalCluster,
) -> None:
    """Against a real R3 stream: catch-up pulls go on while the replica reports entries pending
    after them, stop while the backlog is at its bound, and after the end small pulls pick up
    what comes later (here by the idle poll: this stream has no push)."""
    nc = await nats_connect.connect(cluster.config, prefer_dc=cluster.config.dcs[0].name, name="test-reader")
    try:
        js = nc.jetstream(timeout=10)
        await js.add_stream(name="READER_TEST", subjects=["readertest.>"], num_replicas=3, allow_direct=True)
        for _ in range(5):
            await asyncio.gather(*(js.publish("readertest.x", b"e") for _ in range(500)))

        out: asyncio.Queue[Entry] = asyncio.Queue()
        drained, blocked = asyncio.Event(), asyncio.Event()
        bound = 1000

        async def wait_for_room() -> None:
            while out.qsize() >= bound:
                blocked.set()
                drained.clear()
                await drained.wait()

        reader = ReplicaReader(
            nc,
            "READER_TEST",
            "readertest-nothing-pushed",
            1,
            out,
            batch=100,
            catch_up_batch=500,
            max_bytes=20_000,  # cuts answers short: the reader must go on by Nats-Num-Pending
            wait_for_room=wait_for_room,
            poll_s=0.05,
        )
        task = asyncio.create_task(reader.run())
        # Nobody applies yet: the reader must stop pulling once the bound is reached.
        await asyncio.wait_for(blocked.wait(), 10)
        assert bound <= out.qsize() < bound + 500
        seqs: list[int] = []

        async def take(n: int) -> None:
            while len(seqs) < n:
                seqs.append((await asyncio.wait_for(out.get(), 10))[1])
                drained.set()

        await take(2500)
        assert seqs == list(range(1, 2501))

        async def at_end() -> bool:
            return reader.reached_end

        await eventually(at_end, 10, "the reader to reach the replica's end")

        await asyncio.gather(*(js.publish("readertest.x", b"e") for _ in range(10)))
        drained.set()
        await take(2510)
        assert seqs[2500:] == list(range(2501, 2511))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await js.delete_stream("READER_TEST")
    finally:
        await nc.close()
