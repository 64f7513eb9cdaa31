"""The reader's one rule, whichever path an entry comes by: hand on exactly the next sequence, skip
what was handed on already, and treat a jump as a gap to pull.

The first tests run the reader against a NATS connection without a server: pushes are delivered
to the callback the reader subscribed with, as NATS does, and batch requests are answered from a
dict standing for this DC's replica. What is observed is what the reader hands on, its public
counters, and the requests it makes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import (
    DEFAULT_SUB_PENDING_BYTES_LIMIT,
    DEFAULT_SUB_PENDING_MSGS_LIMIT,
    Subscription,
)

from firebreak.adapters import nats_connect
from firebreak.adapters.replica_reader import Entry, ReadState, ReplicaReader
from firebreak.localcluster import LocalCluster
from tests.helpers import eventually

STREAM = "ROOMS_0"
COMMITTED = "fbc.rooms.0.>"
CATCH_UP_BATCH, BATCH = 100, 2

Callback = Callable[[Msg], Awaitable[None]]


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` the rest."""
    want, got = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(got) > i
        if i >= len(got) or token not in ("*", got[i]):
            return False
    return len(want) == len(got)


class _FakeNats(NATS):
    """NATS as the reader uses it, without a server. Subscriptions are recorded and messages
    delivered to their callbacks; a direct-get batch request is answered from ``replica`` the way
    nats-server answers it: the entries from the asked sequence, then a 204 saying how many more
    are pending, or a 404 when there is nothing at or after it."""

    def __init__(self) -> None:
        super().__init__()
        #: this DC's replica of the stream: sequence -> payload
        self.replica: dict[int, bytes] = {}
        #: (first sequence, batch size) of each batch request, in order
        self.pulls: list[tuple[int, int]] = []
        self.callbacks: list[tuple[str, Callback]] = []

    async def subscribe(
        self,
        subject: str,
        queue: str = "",
        cb: Callback | None = None,
        future: asyncio.Future[Any] | None = None,
        max_msgs: int = 0,
        pending_msgs_limit: int = DEFAULT_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_SUB_PENDING_BYTES_LIMIT,
    ) -> Subscription:
        assert cb is not None, "the reader takes messages by callback"
        self.callbacks.append((subject, cb))
        return Subscription(self, len(self.callbacks), subject, cb=cb)

    async def publish(
        self, subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None
    ) -> None:
        assert subject == f"$JS.API.DIRECT.GET.{STREAM}" and reply, f"unexpected publish to {subject}"
        await asyncio.sleep(0)  # the request goes over the network: the reader's task yields
        request = json.loads(payload)
        self.pulls.append((request["seq"], request["batch"]))
        after = sorted(seq for seq in self.replica if seq >= request["seq"])
        batch = after[: request["batch"]]
        for seq in batch:
            await self.deliver(reply, self.replica[seq], {"Nats-Sequence": str(seq)})
        if batch:
            await self.deliver(
                reply, b"", {"Status": "204", "Nats-Num-Pending": str(len(after) - len(batch))}
            )
        else:
            await self.deliver(reply, b"", {"Status": "404", "Description": "Message Not Found"})

    async def deliver(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        for pattern, cb in list(self.callbacks):
            if _matches(pattern, subject):
                await cb(Msg(self, subject, "", data, headers))

    async def push(self, seq: int) -> None:
        """The stream's leader republishes entry ``seq`` (RePublish), as committed."""
        await self.deliver("fbc.rooms.0.g", f"e{seq}".encode(), {"Nats-Sequence": str(seq)})


def _taken(out: asyncio.Queue[Entry]) -> list[int]:
    """The sequences handed on since the last look, checking each payload is its own."""
    entries = [out.get_nowait() for _ in range(out.qsize())]
    assert all(data == f"e{seq}".encode() and stream == STREAM for stream, seq, data in entries)
    return [seq for _, seq, _ in entries]


async def _settle() -> None:
    """Lets the reader act on whatever woke it. The fake answers a request before ``publish``
    returns, so a woken reader has made its pulls within a few turns of the event loop; a bounded
    number of turns, not time, because what is checked afterwards is that no pull was made."""
    for _ in range(50):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def _running(
    nc: _FakeNats, out: asyncio.Queue[Entry], grace_s: float = 0.0
) -> AsyncIterator[ReplicaReader]:
    """A reader of an empty replica from sequence 1, caught up and idle; no idle polls happen
    during a test (every pull has another reason)."""
    reader = ReplicaReader(
        nc,
        STREAM,
        COMMITTED,
        1,
        out,
        batch=BATCH,
        catch_up_batch=CATCH_UP_BATCH,
        poll_s=3600,
        grace_s=grace_s,
    )
    task = asyncio.create_task(reader.run())

    async def idle() -> bool:
        return reader.state is ReadState.IDLE

    try:
        await eventually(idle, within_s=5, what="the reader to catch up")
        assert reader.reached_end and nc.pulls == [(1, CATCH_UP_BATCH)]
        yield reader
    finally:
        # Python 3.11's wait_for loses a cancellation that arrives just as the awaited event is
        # set (fixed in 3.12), and the reader idles in one: cancel until the task has ended.
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.1)
        if not task.cancelled():
            task.result()  # the reader failed: show why


async def test_push_hands_on_in_order_skips_repeats_and_pulls_a_gap() -> None:
    nc, out = _FakeNats(), asyncio.Queue[Entry]()
    async with _running(nc, out) as reader:
        for seq in (1, 2, 2, 1, 3):
            await nc.push(seq)
        assert _taken(out) == [1, 2, 3]
        assert reader.next_seq == 4 and reader.pushed == 3
        await _settle()
        assert nc.pulls == [(1, CATCH_UP_BATCH)], "no gap, nothing to read"

        # 4 and 5 were lost on the way; the local replica has them.
        nc.replica.update({seq: f"e{seq}".encode() for seq in (4, 5, 6)})
        await nc.push(6)
        assert out.empty() and reader.next_seq == 4, "nothing is handed on past a gap"

        async def filled() -> bool:
            return reader.next_seq == 7

        await eventually(filled, within_s=5, what="the gap to be read from the replica")
        # Read in small batches now that it is caught up, going on while entries are pending.
        assert nc.pulls == [(1, CATCH_UP_BATCH), (4, BATCH), (6, BATCH)]
        assert _taken(out) == [4, 5, 6]
        # Late pushes of what was read are skipped by the same rule.
        await nc.push(5)
        await nc.push(6)
        assert out.empty() and reader.pushed == 3 and reader.next_seq == 7
        assert reader.read_errors == 0


async def test_own_append_is_read_from_the_replica_only_when_push_has_not_delivered_it() -> None:
    nc, out = _FakeNats(), asyncio.Queue[Entry]()
    async with _running(nc, out) as reader:
        await nc.push(1)
        reader.ring(1)  # already delivered by push
        await _settle()
        assert nc.pulls == [(1, CATCH_UP_BATCH)]

        nc.replica[2] = b"e2"
        reader.ring(2)  # acknowledged, and push lost it

        async def read() -> bool:
            return reader.next_seq == 3

        await eventually(read, within_s=5, what="the own append to be read from the replica")
        assert nc.pulls == [(1, CATCH_UP_BATCH), (2, BATCH)]
        assert _taken(out) == [1, 2] and reader.pushed == 1

        reader.ring(3)
        await nc.push(3)  # push delivers it within the grace period
        await _settle()
        assert nc.pulls == [(1, CATCH_UP_BATCH), (2, BATCH)]
        assert _taken(out) == [3] and reader.pushed == 2


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
