"""A live session's inbox (service/hub.py) and its live phase (service/sessions.py), without I/O:
order, batching into frames, the backlog limit, and ending."""

from __future__ import annotations

import asyncio
import json
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


async def test_live_session_frames_in_order_and_ends_on_drain() -> None:
    hub = Hub()
    session = LiveSession("u1", None, cast(Projector, _Head()), cast(Queries, None), hub, max_queue=1000)
    frames: list[dict[str, object]] = []
    sent = asyncio.Event()

    async def send(frame: bytes) -> None:
        frames.append(json.loads(frame))
        sent.set()

    def seqs(frame: dict[str, object]) -> list[int]:
        data = frame["data"]
        return [cast(dict[str, int], d)["seq"] for d in (data if isinstance(data, list) else [data])]

    running = asyncio.ensure_future(session.run(send))
    await sent.wait()
    assert frames == [{"kind": "ready", "cursor": "c1-0-0-0"}]
    # A burst bigger than one frame, with another user's event and a repeat, published at once.
    last = FRAME_EVENTS + 5
    burst = [applied(seq) for seq in range(1, last + 1)]
    hub.publish([*burst[:3], applied(50, user="u2"), burst[2], *burst[3:]])
    while not frames or frames[-1].get("cursor") != f"c1-{last}-0-0":
        sent.clear()
        await asyncio.wait_for(sent.wait(), 5)
    assert len(frames) == 3, "a waiting burst goes out in frames of up to FRAME_EVENTS"
    assert [s for f in frames[1:] for s in seqs(f)] == list(range(1, last + 1))
    hub.end_all("draining")
    with pytest.raises(SessionEnded) as ended:
        await running
    assert ended.value.reason == "draining" and hub.connections == 0
