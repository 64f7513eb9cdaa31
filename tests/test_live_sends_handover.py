"""client/live_sends.py: commands waiting for a live connection that does not come back in time
go back to their callers, in the order given, to be sent over HTTP; the client then keeps each
room's order there (client/room_order.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import pytest

from firebreak.client.live import LiveConnection, LiveState
from firebreak.client.live_sends import LiveSends, UseHttp


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

    def on_change(self, listener: Callable[[LiveState, int], None]) -> None:
        self._listeners.append(listener)

    def on_ack(self, listener: Callable[[bytes | str], None]) -> None:
        pass

    def change(self, state: LiveState) -> None:
        self.state = state
        if state is not LiveState.LIVE:
            self.ws = None
        for listener in self._listeners:
            listener(state, self.current)


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
