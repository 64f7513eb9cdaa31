"""What each live socket of the hot lane (hot.py) holds for its lifetime besides its session:
the loop that reads the client's frames until the session ends, and its heartbeat.

Why classes with ``__slots__`` rather than closures and a second task: a gateway holds tens of
thousands of these at once, and each object they are made of is one more for the garbage
collector to walk as the sockets open (docs/PERFORMANCE.md, "Many connections").
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from starlette.types import Receive, Send

from firebreak.service.sessions import WriteFrameNow
from firebreak.wire.frames import HEARTBEAT_FRAME

_HEARTBEAT = HEARTBEAT_FRAME.encode()


class TakesFrames(Protocol):
    """What runs the client's frames (ws_commands.CommandConnection)."""

    def take(self, frame: str | bytes) -> None: ...


async def listen(receive: Receive, session: asyncio.Future[None], commands: TakesFrames | None) -> bool:
    """Hands the client's frames to ``commands`` (without it, drops them) until the client goes
    away (returns False) or ``session`` ends (returns True). A cancellation of the calling task
    from outside propagates."""
    wake = WakeOnSessionEnd(session)
    try:
        while True:
            try:
                message = await receive()
            except asyncio.CancelledError:
                if wake.woke_us():
                    return True
                raise
            if message["type"] == "websocket.disconnect":
                return False
            if commands is not None:
                commands.take(message.get("text") or message.get("bytes") or b"")
    finally:
        wake.stop_listening()  # before anything else awaits: a session ending later wakes nothing


class WakeOnSessionEnd:
    """Wakes the connection's task from ``receive()`` when its session task ends, by cancelling
    it. Why not a second task reading the client's frames and ``asyncio.wait`` over both: that
    kept more objects alive per socket and created a task per frame received (docs/DECISIONS.md,
    "A live socket is one task").

    States: *listening* (the task may be woken), *woken* (it was cancelled by the session's end;
    the CancelledError it catches is this one), *done* (after :meth:`stop_listening`; a session
    ending from now on wakes nothing)."""

    __slots__ = ("_already", "_state", "_task")

    def __init__(self, session: asyncio.Future[None]) -> None:
        task = asyncio.current_task()
        assert task is not None, "a connection runs in a task"
        self._task = task
        #: Cancellations the task carried before (none, unless something above swallowed one).
        self._already = task.cancelling()
        self._state = "listening"
        session.add_done_callback(self._wake)

    def _wake(self, _session: asyncio.Future[None]) -> None:
        if self._state == "listening":
            self._state = "woken"
            self._task.cancel()

    def woke_us(self) -> bool:
        """For a CancelledError just caught: whether it came from the session's end alone (then
        it is taken back, and the task carries on); False means someone else cancelled the task."""
        if self._state != "woken":
            return False
        self._state = "done"
        return self._task.uncancel() == self._already

    def stop_listening(self) -> None:
        self._state = "done"


class SocketHeartbeat:
    """One socket's heartbeat: through the direct writer when it takes it; else an ASGI send in
    the background, one at a time. A socket that cannot take it now (paused, or off direct writes
    after one failed) still gets its heartbeat: the server notices a vanished client only when a
    heartbeat goes unacknowledged (liveness.py). A class, not closures: one object per socket."""

    __slots__ = ("_send", "_sending", "_write_now")

    def __init__(self, send: Send, write_now: WriteFrameNow | None) -> None:
        self._send = send
        self._write_now = write_now
        self._sending: asyncio.Future[None] | None = None

    def __call__(self) -> None:
        if self._write_now is None or not self._write_now(_HEARTBEAT):
            self._beat_later()

    def _beat_later(self) -> None:
        if self._sending is None or self._sending.done():
            self._sending = asyncio.ensure_future(self._send_heartbeat())

    async def _send_heartbeat(self) -> None:
        # The socket is gone (OSError), or closed by the session meanwhile (RuntimeError):
        # either way there is no one to tell, and receive() says so next.
        with contextlib.suppress(OSError, RuntimeError):
            await self._send({"type": "websocket.send", "text": HEARTBEAT_FRAME})
