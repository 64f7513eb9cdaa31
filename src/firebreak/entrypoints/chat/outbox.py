"""Messages typed but not yet acknowledged by the log, sent in the order typed.

Each message gets its client id when it is typed and keeps it for every attempt, on every DC,
however long the log takes writes no more (no quorum): the server turns all those attempts into
one message (docs/IDEMPOTENCY.md). So a message is never dropped while the chat runs and never
doubled. The retrying itself is the client library's (``Client.send`` with no deadline); the
outbox only orders the messages and tells the person what is going on:

* acknowledged within ``quiet_s``: one line, ``10:31 [bob] me: hi ✓``;
* slower: ``10:31 [bob] me: hi (pending)`` once ``quiet_s`` has passed, then
  ``10:32 [bob] ✓ sent: hi`` when the log has it; and one notice for the whole outage saying why
  messages wait and that they go by themselves, with a reminder every ``REMIND_S``;
* refused by the server (not a member any more, too long): ``✗ not sent ...`` with the reason.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field

from firebreak.client import Client
from firebreak.client.client import new_id
from firebreak.errors import FirebreakError

from .screen import PENDING, SENT, Screen, clock, message_line, now_ms

#: Seconds between reminders that messages are still waiting for the log.
REMIND_S = 15.0


@dataclass
class Outgoing:
    room_id: str
    room_title: str
    text: str
    client_id: str = field(default_factory=new_id)
    typed_at: int = field(default_factory=now_ms)
    shown: bool = False


class Outbox:
    def __init__(self, client: Client, screen: Screen, *, quiet_s: float = 0.5) -> None:
        self._client = client
        self._screen = screen
        self._quiet_s = quiet_s
        self._queue: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._trouble: str | None = None
        self._told = 0.0
        #: Client ids of the messages this chat sent, so their copy on the live stream is not shown again.
        self.mine: set[str] = set()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def add(self, room_id: str, room_title: str, text: str) -> Outgoing:
        item = Outgoing(room_id, room_title, text)
        self.mine.add(item.client_id)
        self._queue.append(item)
        self._idle.clear()
        self._wake.set()
        asyncio.get_running_loop().call_later(self._quiet_s, self._show_pending, item)
        return item

    def _show_pending(self, item: Outgoing) -> None:
        if item in self._queue and not item.shown:
            item.shown = True
            self._screen.line(message_line(item.typed_at, item.room_title, "me", item.text, PENDING))

    def _retrying(self, error: FirebreakError) -> None:
        # One notice when an outage starts and a reminder every REMIND_S, not one per attempt:
        # attempts go on every second or so.
        now = time.monotonic()
        if self._trouble is None:
            self._trouble, self._told = error.code, now
            self._screen.notice(
                f"the log is not taking writes right now ({error.code}): {self.waiting} message(s) "
                "pending, sent by themselves when it can again"
            )
        elif now - self._told >= REMIND_S:
            self._told = now
            oldest = (now_ms() - self._queue[0].typed_at) // 1000 if self._queue else 0
            self._screen.notice(
                f"still waiting for the log ({error.code}): {self.waiting} message(s) pending, "
                f"the oldest for {oldest} s"
            )

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            while self._queue:
                await self._deliver(self._queue[0])
                self._queue.popleft()
            self._wake.clear()
            self._idle.set()

    async def drained(self) -> None:
        """Returns once every message typed so far has been acknowledged or refused."""
        await self._idle.wait()

    async def _deliver(self, item: Outgoing) -> None:
        try:
            result = await self._client.send(
                item.room_id, item.text, item.client_id, deadline_s=math.inf, on_retry=self._retrying
            )
        except FirebreakError as exc:  # refused (4xx): retrying the same request cannot help
            self._screen.line(f"✗ not sent to [{item.room_title}]: {item.text!r}: {exc.message} ({exc.code})")
            return
        if self._trouble is not None:
            self._trouble = None
            self._screen.notice("the log takes writes again")
        if item.shown:
            self._screen.line(f"{clock(result.message.at)} [{item.room_title}] {SENT} sent: {item.text}")
        else:
            item.shown = True
            self._screen.line(message_line(result.message.at, item.room_title, "me", item.text, SENT))

    def unsent(self) -> list[Outgoing]:
        return list(self._queue)
