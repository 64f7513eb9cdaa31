"""client/live_sends.py against a stand-in connection: at most ``max_in_flight`` commands are
written and unanswered at a time, the rest written in order as acks come (on a new connection
too); commands waiting for a live connection that does not come back in time go back to their
callers, in the order given, to be sent over HTTP (the client keeps each room's order there:
client/room_order.py); a connection back in time keeps them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import cast

import pytest

from firebreak.client.live import LiveConnection, LiveState
from firebreak.client.live_sends import LiveSends, UseHttp
from firebreak.wire.commands import ok_ack
from firebreak.wire.views import MessageView, SendResult


class _Socket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self._counted: tuple[int, asyncio.Event] | None = None

    async def send(self, text: str) -> None:
        self.sent.append(text)
        if self._counted is not None and len(self.sent) >= self._counted[0]:
            self._counted[1].set()

    async def wrote(self, n: int) -> None:
        """Returns once ``n`` frames were written."""
        if len(self.sent) < n:
            self._counted = (n, asyncio.Event())
            await asyncio.wait_for(self._counted[1].wait(), 5)


class _Live:
    """The parts of LiveConnection that LiveSends uses; the test moves its state."""

    def __init__(self) -> None:
        self.state = LiveState.LIVE
        self.ws: _Socket | None = _Socket()
        self.current = 0
        self._listeners: list[Callable[[LiveState, int], None]] = []
        self._ack_listeners: list[Callable[[bytes | str], None]] = []

    def on_change(self, listener: Callable[[LiveState, int], None]) -> None:
        self._listeners.append(listener)

    def on_ack(self, listener: Callable[[bytes | str], None]) -> None:
        self._ack_listeners.append(listener)

    def change(self, state: LiveState) -> None:
        self.state = state
        self.ws = _Socket() if state is LiveState.LIVE else None
        for listener in self._listeners:
            listener(state, self.current)

    def ack(self, ref: str) -> None:
        view = MessageView(room_id="g_room", room_seq=int(ref), sender="u", client_id=f"c{ref}", text="hi",
                           at=0, unread=1, p=0, seq=int(ref))  # fmt: skip
        for listener in self._ack_listeners:
            listener(ok_ack(ref, 201, SendResult(message=view, duplicate=False)))


def _refs(socket: _Socket) -> list[str]:
    return [json.loads(frame)["ref"] for frame in socket.sent]


async def test_at_most_max_in_flight_are_written_and_the_rest_follow_in_order() -> None:
    live = _Live()
    sends = LiveSends(cast(LiveConnection, live), max_in_flight=2)
    first = live.ws
    assert first is not None
    tasks = [asyncio.create_task(sends.send("g_room", f"c{i}", "hi", deadline_s=30)) for i in range(1, 6)]
    await first.wrote(2)
    assert _refs(first) == ["1", "2"], "two on the wire, three waiting"
    live.ack("1")
    await first.wrote(3)
    assert _refs(first) == ["1", "2", "3"]
    # A new connection: the unanswered go again, in order, two at a time.
    live.change(LiveState.BACKOFF)
    live.change(LiveState.LIVE)
    second = live.ws
    assert second is not None
    await second.wrote(2)
    assert _refs(second) == ["2", "3"]
    for ref, written in (("2", 3), ("3", 4), ("4", 4), ("5", 4)):
        live.ack(ref)
        await second.wrote(written)
    assert _refs(second) == ["2", "3", "4", "5"]
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [r.message.client_id for r in results] == ["c1", "c2", "c3", "c4", "c5"]
    assert sends.resent == 2, "the two written on the lost connection went again"


async def test_commands_go_back_to_http_in_order_when_no_connection_comes_back() -> None:
    live = _Live()
    sends = LiveSends(cast(LiveConnection, live), wait_for_connection_s=0.05)
    handed_back: list[str] = []

    async def send(client_id: str) -> None:
        try:
            await sends.send("g_room", client_id, "hi", deadline_s=30)
        except UseHttp:
            handed_back.append(client_id)
            return
        raise AssertionError("no ack can come")

    socket = live.ws
    assert socket is not None
    tasks = [asyncio.create_task(send(f"c{i}")) for i in range(3)]
    await socket.wrote(3)
    live.change(LiveState.BACKOFF)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert handed_back == ["c0", "c1", "c2"], "handed back in the order given"
    assert not sends.pending


async def test_a_connection_closed_for_good_hands_commands_back_at_once() -> None:
    live = _Live()
    sends = LiveSends(cast(LiveConnection, live), wait_for_connection_s=3600)
    socket = live.ws
    assert socket is not None
    handed_back: list[str] = []
    task = asyncio.create_task(
        sends.send("g_room", "c", "hi", deadline_s=30, handed_back=lambda: handed_back.append("c"))
    )
    await socket.wrote(1)
    live.change(LiveState.CLOSED)
    assert handed_back == ["c"], "told at once, before the caller runs again"
    with pytest.raises(UseHttp):
        await asyncio.wait_for(task, 5)


async def test_a_connection_back_within_the_wait_keeps_the_commands_on_it() -> None:
    """Back in time: the hand-over is called off, and the commands wait on the new connection
    however long their acks take (here five times the wait), not over HTTP."""
    live = _Live()
    sends = LiveSends(cast(LiveConnection, live), wait_for_connection_s=0.05)
    handed_back = asyncio.Event()
    tasks = [
        asyncio.create_task(sends.send("g_room", f"c{i}", "hi", deadline_s=30, handed_back=handed_back.set))
        for i in range(1, 3)
    ]
    assert live.ws is not None
    await live.ws.wrote(2)
    live.change(LiveState.BACKOFF)
    live.change(LiveState.LIVE)
    again = live.ws
    assert again is not None
    await again.wrote(2)
    with pytest.raises(TimeoutError):  # the event must not come: a bounded wait for nothing
        await asyncio.wait_for(handed_back.wait(), 0.25)
    live.ack("1")
    live.ack("2")
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [r.message.client_id for r in results] == ["c1", "c2"]
