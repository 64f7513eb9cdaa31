"""One ordered way out for a gateway process's presence notes (service/presence_speaker.py).

Why one: receivers read a gap in a source's note numbers as a lost note and ask for a full list
(domain/presence_board.py). Notes published from separate tasks could reach NATS out of order,
and each such swap would cost a list for nothing; here they leave one at a time, in the order
they were put.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Note = TypeVar("Note")


class Outbox(Generic[Note]):
    def __init__(self, publish: Callable[[Note], Awaitable[None]]) -> None:
        self._publish = publish
        self._waiting: deque[Note] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    def put(self, note: Note) -> None:
        """Sends ``note`` after those put before it, in the background (once closed: nothing)."""
        if self._closed:
            return
        self._waiting.append(note)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.ensure_future(self._run())

    def close(self, keep: Callable[[Note], bool]) -> None:
        """Takes no more notes, and drops those waiting that ``keep`` does not keep."""
        self._closed = True
        self._waiting = deque(note for note in self._waiting if keep(note))

    async def flush(self) -> None:
        """Returns once every note put so far has been handed to NATS (or failed)."""
        if self._waiting and (self._pump is None or self._pump.done()):
            self._pump = asyncio.ensure_future(self._run())
        if self._pump is not None:
            await asyncio.shield(self._pump)

    async def _run(self) -> None:
        while self._waiting:
            note = self._waiting.popleft()
            try:
                await self._publish(note)
            except Exception:  # ephemeral: the next pulse or list makes up for it
                log.warning("could not publish a %s note", type(note).__name__, exc_info=True)
