"""The live socket's receive loop (entrypoints/gateway/hot.py, live_socket.py): one task per
connection, woken from ``receive()`` when its session ends, and never swallowing a cancellation
meant for it."""

from __future__ import annotations

import asyncio

import pytest

from firebreak.entrypoints.gateway.live_socket import WakeOnSessionEnd


async def _listen(session: asyncio.Future[None], inbox: asyncio.Queue[str], heard: list[str]) -> str:
    """The shape of ``HotLane._live``'s loop: returns why it stopped."""
    ended = WakeOnSessionEnd(session)
    try:
        while True:
            try:
                message = await inbox.get()
            except asyncio.CancelledError:
                if ended.woke_us():
                    return "session ended"
                raise
            if message == "disconnect":
                return "client left"
            heard.append(message)
    finally:
        ended.stop_listening()


async def _outcome(listening: asyncio.Future[str]) -> str:
    """What the loop returned, without cancelling it (as wait_for would on a timeout)."""
    await asyncio.wait({listening}, timeout=5)
    assert listening.done(), "the loop is still waiting in receive()"
    return listening.result()


async def test_the_session_ending_wakes_the_loop_from_receive() -> None:
    loop = asyncio.get_running_loop()
    session: asyncio.Future[None] = loop.create_future()
    inbox: asyncio.Queue[str] = asyncio.Queue()
    heard: list[str] = []
    listening = asyncio.ensure_future(_listen(session, inbox, heard))
    inbox.put_nowait("a command")
    await asyncio.sleep(0)  # the loop takes it and waits again
    assert heard == ["a command"]
    session.set_result(None)
    assert await _outcome(listening) == "session ended"
    assert heard == ["a command"]
    assert not listening.cancelled() and listening.cancelling() == 0


async def test_a_message_already_delivered_does_not_hide_the_session_end() -> None:
    # The client's frame and the session's end arrive in the same turn of the loop.
    loop = asyncio.get_running_loop()
    session: asyncio.Future[None] = loop.create_future()
    inbox: asyncio.Queue[str] = asyncio.Queue()
    heard: list[str] = []
    listening = asyncio.ensure_future(_listen(session, inbox, heard))
    await asyncio.sleep(0)
    inbox.put_nowait("a command")
    session.set_result(None)
    assert await _outcome(listening) == "session ended"


async def test_the_client_leaving_ends_the_loop_and_a_later_session_end_wakes_nothing() -> None:
    loop = asyncio.get_running_loop()
    session: asyncio.Future[None] = loop.create_future()
    inbox: asyncio.Queue[str] = asyncio.Queue()

    async def connection() -> str:
        why = await _listen(session, inbox, [])
        session.set_result(None)  # what HotLane._live does next: cancel and await the session
        for _ in range(3):  # then its close: this must not be interrupted
            await asyncio.sleep(0)
        return why

    inbox.put_nowait("disconnect")
    assert await asyncio.wait_for(connection(), 5) == "client left"


async def test_a_cancellation_from_outside_is_not_swallowed() -> None:
    loop = asyncio.get_running_loop()
    session: asyncio.Future[None] = loop.create_future()
    inbox: asyncio.Queue[str] = asyncio.Queue()
    listening = asyncio.ensure_future(_listen(session, inbox, []))
    await asyncio.sleep(0)
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening


async def test_a_cancellation_from_outside_together_with_the_session_end_is_not_swallowed() -> None:
    loop = asyncio.get_running_loop()
    session: asyncio.Future[None] = loop.create_future()
    inbox: asyncio.Queue[str] = asyncio.Queue()
    listening = asyncio.ensure_future(_listen(session, inbox, []))
    await asyncio.sleep(0)
    session.set_result(None)  # its wake-up is scheduled, not run yet
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening
