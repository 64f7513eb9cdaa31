"""Ephemeral frames (typing, presence: service/presence.py) to one live socket."""

from __future__ import annotations

import asyncio
import contextlib

from firebreak.service.sessions import WriteFrame, WriteFrameNow

#: Ephemeral frames waiting for one socket that does not take them at once; more are dropped (a
#: client that reads so slowly gets the current state from GET .../presence when it catches up).
SINK_PENDING_MAX = 16


class SocketSink:
    """Writes ephemeral frames to one live socket: at once if the socket takes them, else in the
    background (frames are written whole, in order among themselves; their order against event
    frames does not matter, they carry no cursor)."""

    def __init__(self, write_frame: WriteFrame, write_now: WriteFrameNow | None) -> None:
        self._write_frame = write_frame
        self._write_now = write_now
        self._pending: set[asyncio.Future[None]] = set()

    def __call__(self, frame: bytes) -> None:
        if not self._pending and self._write_now is not None and self._write_now(frame):
            return
        if len(self._pending) >= SINK_PENDING_MAX:
            return
        task = asyncio.ensure_future(self._write(frame))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, frame: bytes) -> None:
        # Each waits for the socket in turn (uvicorn wakes waiters in order) and writes a whole frame.
        with contextlib.suppress(Exception):
            await self._write_frame(frame)

    def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
