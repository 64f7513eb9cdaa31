"""A live session's inbox (service/hub.py) and its catch-up and live phases (service/sessions.py),
without network I/O (the read model is SQLite in memory): order, batching into frames, the backlog
limit, and ending."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import cast

import pytest

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.domain import events as ev
from firebreak.domain.ids import Cursor, room_stream
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


class _ReadModel:
    """A DC's read model in memory, three partitions: the projector publishes to ``hub``."""

    def __init__(self, hub: Hub) -> None:
        conn = sqlite_store.connect(":memory:")
        self.projector = Projector(SqliteStore(conn), 3, hub.publish)
        self.queries = Queries(conn)


class _Client:
    """User u1's live session on ``hub``, with the frames its awaited ``send`` delivered."""

    def __init__(self, hub: Hub, model: _ReadModel | None = None, cursor: Cursor | None = None) -> None:
        model = model or _ReadModel(hub)
        self.session = LiveSession("u1", cursor, model.projector, model.queries, hub, max_queue=1000)
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


async def test_a_session_ended_from_outside_ends_whether_it_ran_yet_or_not() -> None:
    """LiveSession.end (its socket's commands gave up on the client) ends a running session as
    the hub would, and one not yet running as soon as it starts, before anything is written."""
    hub = Hub()
    running_client, early_client = _Client(hub), _Client(hub)
    running = asyncio.ensure_future(running_client.session.run(running_client.send))
    await running_client.until(bool)
    running_client.session.end("slow_consumer")
    early_client.session.end("slow_consumer")
    for client, task in ((running_client, running), (early_client, None)):
        with pytest.raises(SessionEnded) as ended:
            await asyncio.wait_for(task or client.session.run(client.send), 5)
        assert ended.value.reason == "slow_consumer"
    assert early_client.frames == [] and hub.connections == 0


def _room_entries(first: int, *events: ev.RoomEvent) -> list[tuple[str, int, bytes]]:
    return [(room_stream(0), seq, ev.encode(event)) for seq, event in enumerate(events, first)]


async def test_live_session_catches_up_from_the_read_model_then_goes_live() -> None:
    """From the client's cursor up to ``head`` the session reads the read model (only the rooms
    u1 is in); after that, what the projector applies reaches it through the hub."""
    hub = Hub()
    model = _ReadModel(hub)
    model.projector.apply_batch(
        _room_entries(
            1,
            ev.RoomCreated(v=1, at=1, room_id="g", kind="group", name="n", creator="u2", members=("u1",)),
            ev.RoomCreated(v=1, at=2, room_id="h", kind="group", name="n", creator="u2", members=()),
            ev.MessageSent(v=1, at=3, room_id="g", sender="u2", client_id="m3", text="to u1"),
            ev.MessageSent(v=1, at=4, room_id="h", sender="u2", client_id="m4", text="not to u1"),
        )
    )
    client = _Client(hub, model, cursor=Cursor([0, 0, 0]))
    frames = client.frames
    running = asyncio.ensure_future(client.session.run(client.send))
    await client.until(lambda frames: bool(frames) and frames[-1]["kind"] == "ready")
    assert [f["kind"] for f in frames] == ["events", "ready"]
    assert _seqs(frames[:1]) == [1, 3] and frames[1]["cursor"] == "c1-4-0-0"
    message = ev.MessageSent(v=1, at=5, room_id="g", sender="u2", client_id="m5", text="live")
    model.projector.apply_batch(_room_entries(5, message))
    await client.until(lambda frames: frames[-1].get("cursor") == "c1-5-0-0")
    assert _seqs(frames[2:]) == [5]
    hub.end_all("draining")
    with pytest.raises(SessionEnded):
        await running


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
    (sub,) = hub.live_sessions("u1")

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
