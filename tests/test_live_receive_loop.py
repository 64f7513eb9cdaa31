"""The live socket's receive loop (entrypoints/gateway/live_socket.py ``listen``, which hot.py runs
for every socket): one task per connection, woken from ``receive()`` when its session ends, and
never swallowing a cancellation meant for it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from starlette.types import Message

from firebreak.entrypoints.gateway.live_socket import listen

LEFT: Message = {"type": "websocket.disconnect", "code": 1000}


def _frame(text: str) -> Message:
    return {"type": "websocket.receive", "text": text}


class _Commands:
    def __init__(self) -> None:
        self.taken: list[str | bytes] = []

    def take(self, frame: str | bytes) -> None:
        self.taken.append(frame)


class _Socket:
    """What uvicorn gives the app: ``receive()`` over a queue of messages. ``waiting`` is set while
    the loop waits in ``receive()`` with nothing queued."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.session: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.commands = _Commands()
        self.waiting = asyncio.Event()

    async def receive(self) -> Message:
        if self.inbox.empty():
            self.waiting.set()
        try:
            return await self.inbox.get()
        finally:
            self.waiting.clear()

    def listening(self) -> asyncio.Task[bool]:
        return asyncio.ensure_future(listen(self.receive, self.session, self.commands))

    async def until_waiting(self) -> None:
        await asyncio.wait_for(self.waiting.wait(), 5)

    async def until_callbacks_ran(self) -> None:
        """Returns once the session (done already) has run its done-callbacks, the wake-up among
        them. No wait_for here: Python 3.11's can swallow a cancellation that lands as it ends."""
        ran = asyncio.Event()
        self.session.add_done_callback(lambda _: ran.set())
        await ran.wait()


async def _outcome(listening: asyncio.Future[bool]) -> bool:
    """What the loop returned, without cancelling it (as wait_for would on a timeout)."""
    await asyncio.wait({listening}, timeout=5)
    assert listening.done(), "the loop is still waiting in receive()"
    return listening.result()


async def test_frames_go_to_the_commands_until_the_session_ends() -> None:
    socket = _Socket()
    listening = socket.listening()
    socket.inbox.put_nowait(_frame("one"))
    socket.inbox.put_nowait(_frame("two"))
    await socket.until_waiting()  # the loop took both and waits again
    assert socket.commands.taken == ["one", "two"]
    socket.session.set_result(None)
    assert await _outcome(listening) is True, "the session ended"
    assert listening.cancelling() == 0


@pytest.mark.parametrize("first", ["frame", "session end"])
async def test_a_frame_and_the_session_end_in_the_same_turn(first: str) -> None:
    socket = _Socket()
    listening = socket.listening()
    await socket.until_waiting()
    if first == "frame":
        socket.inbox.put_nowait(_frame("late"))
        socket.session.set_result(None)
    else:
        socket.session.set_result(None)
        socket.inbox.put_nowait(_frame("late"))
    assert await _outcome(listening) is True


async def test_the_client_leaving_ends_the_loop_and_a_later_session_end_wakes_nothing() -> None:
    socket = _Socket()

    async def connection() -> bool:
        session_on = await listen(socket.receive, socket.session, socket.commands)
        socket.session.set_result(None)  # what hot.py does next: cancel and await the session
        await socket.until_callbacks_ran()  # then its close: a stray wake-up would cancel this
        return session_on

    socket.inbox.put_nowait(LEFT)
    assert await asyncio.wait_for(connection(), 5) is False, "the client went away"


async def test_a_cancellation_from_outside_is_not_swallowed() -> None:
    socket = _Socket()
    listening = socket.listening()
    await socket.until_waiting()
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening


async def test_a_cancellation_from_outside_together_with_the_session_end_is_not_swallowed() -> None:
    socket = _Socket()
    listening = socket.listening()
    await socket.until_waiting()
    socket.session.set_result(None)  # its wake-up is scheduled, not run yet
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening


async def test_a_task_that_swallowed_a_cancellation_before_is_still_woken() -> None:
    socket = _Socket()

    async def connection() -> bool:
        # Something above the loop swallowed a cancellation without uncancel().
        with contextlib.suppress(asyncio.CancelledError):
            started.set()
            await asyncio.Event().wait()
        return await listen(socket.receive, socket.session, socket.commands)

    started = asyncio.Event()
    task = asyncio.ensure_future(connection())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    await socket.until_waiting()
    socket.session.set_result(None)
    assert await _outcome(task) is True
