"""Which way a room's next send goes when the client has a live connection, so that the sends one
caller makes to a room without awaiting each land in the log in the order they were given.

The socket keeps a room's commands in order by itself (client/live_sends.py, the gateway's
per-room queue), and a command given while its connection is down waits for the next one in
that order. HTTP requests in flight at once do not keep any order. So a room's sends leave the
socket for HTTP only in a line (:class:`HttpLine`): one request at a time, in the order they
joined it, and while a room has sends in that line its new sends join it too rather than
overtake it on the socket. A room's line ends when its last send is answered; its next send
takes the socket again.

States of one room: *on the socket* (no line) and *in line* (sends waiting or running over HTTP).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _Line:
    __slots__ = ("lock", "sends")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # hands the turn over in the order the sends asked (FIFO)
        self.sends = 0


class HttpLine:
    """Each room's line of sends over HTTP (see the module's docstring)."""

    def __init__(self) -> None:
        self._lines: dict[str, _Line] = {}

    def busy(self, room_id: str) -> bool:
        """Whether the room has sends in line: a new one must join it, not take the socket."""
        return room_id in self._lines

    @asynccontextmanager
    async def turn(self, room_id: str) -> AsyncIterator[None]:
        """Waits for the room's earlier sends over HTTP; the send runs inside."""
        line = self._lines.get(room_id)
        if line is None:
            line = self._lines[room_id] = _Line()
        line.sends += 1  # before any wait, so that busy() sees it at once
        try:
            async with line.lock:
                yield
        finally:
            line.sends -= 1
            if line.sends == 0:
                del self._lines[room_id]
