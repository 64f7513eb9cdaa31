"""A live session's inbox (service/hub.py) and its live phase (service/sessions.py), without I/O:
order, batching into frames, the backlog limit, and ending."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import cast

import pytest

from firebreak.adapters.sqlite_queries import Queries
from firebreak.domain.ids import Cursor
from firebreak.domain.model import Applied
from firebreak.service.hub import Hub, Subscriber
from firebreak.service.projector import Projector
from firebreak.service.sessions import FRAME_EVENTS, LiveSession, SessionEnded
from tests.helpers import eventually


async def parked(sub: Subscriber) -> None:
    """Returns once a reader waits in ``sub.take`` (polled with a deadline)."""

    async def waiting() -> bool:
        return sub.waiting

    await eventually(waiting, within_s=5, what="the reader to wait")


def applied(seq: int, user: str = "u1", partition: int = 0) -> Applied:
    return Applied(partition, seq, "g1", (user,), json.dumps({"seq": seq}).encode())


def _seqs(frames: list[dict[str, object]]) -> list[int]:
    """The ``seq`` of every event in ``frames``, in order."""
    out = []
    for frame in frames:
        data = frame["data"]
        out += [cast(dict[str, int], d)["seq"] for d in (data if isinstance(data, list) else [data])]
    return out


async def test_take_returns_what_waits_in_order_up_to_most() -> None:
    sub = Subscriber("u1", max_queue=100)
    for seq in range(1, 6):
        sub.push(applied(seq))
    assert [a.seq for a in await sub.take(3)] == [1, 2, 3]
    assert [a.seq for a in await sub.take(3)] == [4, 5]


async def test_take_waits_for_a_push_and_for_the_end() -> None:
    sub = Subscriber("u1", max_queue=100)
    waiting = asyncio.ensure_future(sub.take(10))
    await parked(sub)
    assert not waiting.done()
    sub.push(applied(1))
    assert [a.seq for a in await waiting] == [1]
    waiting = asyncio.ensure_future(sub.take(10))
    await parked(sub)
    sub.end("draining")
    assert await waiting == [] and sub.ended == "draining"
    sub.push(applied(2))
    assert await sub.take(10) == [], "nothing is taken after the end"


async def test_a_cancelled_take_leaves_the_inbox_usable() -> None:
    sub = Subscriber("u1", max_queue=100)
    waiting = asyncio.ensure_future(sub.take(10))
    await parked(sub)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not sub.waiting
    sub.push(applied(1))
    assert [a.seq for a in await sub.take(10)] == [1]


async def test_overflow_ends_the_session_as_a_slow_consumer() -> None:
    sub = Subscriber("u1", max_queue=3)
    for seq in range(1, 5):
        sub.push(applied(seq))
    assert sub.ended == "slow_consumer"
    assert await sub.take(10) == []


class _Head:
    """The one thing a session asks of the projector."""

    def head_cursor(self) -> Cursor:
        return Cursor([0, 0, 0])


class _Client:
    """User u1's live session on ``hub``, with the frames its awaited ``send`` delivered."""

    def __init__(self, hub: Hub) -> None:
        head = cast(Projector, _Head())
        self.session = LiveSession("u1", None, head, cast(Queries, None), hub, max_queue=1000)
        self.frames: list[dict[str, object]] = []
        self._more = asyncio.Event()

    async def send(self, frame: bytes) -> None:
        self.frames.append(json.loads(frame))
        self._more.set()

    async def until(self, done: Callable[[list[dict[str, object]]], bool]) -> None:
        """Returns once ``done(frames)`` holds; fails if no frame comes for 5 s."""
        while not done(self.frames):
            self._more.clear()
            await asyncio.wait_for(self._more.wait(), 5)


async def test_live_session_frames_in_order_and_ends_on_drain() -> None:
    hub = Hub()
    client = _Client(hub)
    frames = client.frames
    running = asyncio.ensure_future(client.session.run(client.send))
    await client.until(bool)
    assert frames == [{"kind": "ready", "cursor": "c1-0-0-0"}]
    # A burst bigger than one frame, with another user's event and a repeat, published at once.
    last = FRAME_EVENTS + 5
    burst = [applied(seq) for seq in range(1, last + 1)]
    hub.publish([*burst[:3], applied(50, user="u2"), burst[2], *burst[3:]])
    await client.until(lambda frames: frames[-1].get("cursor") == f"c1-{last}-0-0")
    assert len(frames) == 3, "a waiting burst goes out in frames of up to FRAME_EVENTS"
    assert _seqs(frames[1:]) == list(range(1, last + 1))
    hub.end_all("draining")
    with pytest.raises(SessionEnded) as ended:
        await running
    assert ended.value.reason == "draining" and hub.connections == 0


# ---- DIRECT: the hub writes to the socket itself (service/hub.py, entrypoints/gateway/websocket.py)


class _Socket:
    """A fake ``send_now``: takes frames until ``room`` runs out, then refuses (a paused socket)."""

    def __init__(self, room: int = 1_000_000) -> None:
        self.room = room
        self.frames: list[dict[str, object]] = []

    def send_now(self, frame: bytes) -> bool:
        if self.room <= 0:
            return False
        self.room -= 1
        self.frames.append(json.loads(frame))
        return True


async def test_direct_needs_an_empty_inbox_and_writes_one_frame_per_batch() -> None:
    hub, written = Hub(), []
    sub = Subscriber("u1", max_queue=100)
    hub.add(sub)

    def write(items: list[Applied]) -> int:
        written.append([a.seq for a in items])
        return len(items)

    hub.publish([applied(1)])
    assert not sub.go_direct(write), "events waiting: the session task drains them first"
    assert [a.seq for a in await sub.take(10)] == [1]
    assert sub.go_direct(write) and sub.direct
    reader = asyncio.ensure_future(sub.take(10))
    await parked(sub)
    hub.publish([applied(2), applied(9, user="u2"), applied(3)])
    hub.publish([applied(4)])
    assert written == [[2, 3], [4]], "written in the projector's step, one call per batch"
    assert not reader.done(), "the session task is not woken for events the hub wrote"
    sub.end("draining")
    assert await reader == [] and not sub.direct


async def test_a_refused_write_falls_back_to_the_session_task_in_order() -> None:
    hub, socket = Hub(), _Socket(room=0)
    client = _Client(hub)
    sent = client.frames

    async def sent_seqs(expected: list[int]) -> None:
        await client.until(lambda frames: _seqs(frames[1:]) == expected)

    running = asyncio.ensure_future(client.session.run(client.send, socket.send_now))
    await client.until(bool)
    (sub,) = hub._by_user["u1"]

    async def is_direct() -> bool:
        return sub.direct and sub.waiting

    await eventually(is_direct, within_s=5, what="DIRECT")
    # A lone event the socket refuses goes through the awaited send.
    hub.publish([applied(1)])
    assert not sub.direct
    await sent_seqs([1])
    await eventually(is_direct, within_s=5, what="DIRECT again")
    # The socket takes one frame (events 2-101), then refuses: 102-106 and what follows go
    # through the awaited send, in order, each event once.
    socket.room = 1
    last = FRAME_EVENTS + 6
    hub.publish([applied(seq) for seq in range(2, last + 1)])
    assert _seqs(socket.frames) == list(range(2, FRAME_EVENTS + 2))
    assert not sub.direct
    hub.publish([applied(last + 1)])
    await sent_seqs([1, *range(FRAME_EVENTS + 2, last + 2)])
    assert sent[-1]["cursor"] == f"c1-{last + 1}-0-0"
    # With the inbox drained, the session hands the socket back to the hub.
    await eventually(is_direct, within_s=5, what="DIRECT once more")
    socket.room = 10
    hub.publish([applied(last + 1), applied(last + 2)])
    assert socket.frames[-1] == {"kind": "event", "cursor": f"c1-{last + 2}-0-0", "data": {"seq": last + 2}}
    hub.end_all("draining")
    with pytest.raises(SessionEnded):
        await running


async def test_a_failing_writer_never_reaches_the_projector() -> None:
    hub = Hub()
    sub = Subscriber("u1", max_queue=100)
    hub.add(sub)

    def broken(items: list[Applied]) -> int:
        raise RuntimeError("socket exploded")

    assert sub.go_direct(broken)
    hub.publish([applied(1)])  # must not raise
    assert not sub.direct
    assert [a.seq for a in await sub.take(10)] == [1], "the session task gets the event instead"
