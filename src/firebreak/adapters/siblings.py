"""What one gateway process of a DC tells the DC's other gateway processes: a drain.

A DC may run several gateway processes on one port (config.DCConfig.gateways); an operator's
``POST /internal/drain`` reaches one of them, but a planned outage must empty them all. The process
that was asked publishes ``eph.drain.<dc>`` on core NATS with a reply subject; every other process
of that DC drains when it hears it and answers with the live sessions it ended, and the asker
counts the answers that come within :data:`ANSWER_WAIT_S`. Core NATS, not the log: a drain is not
kept, so a process that was not connected to NATS then, or that starts later, serves until asked
again (docs/DECISIONS.md); the answer's count of processes drained shows it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout

DRAIN_PREFIX = "eph.drain."
#: How long the asked process waits for the others' answers (within an operator's request).
ANSWER_WAIT_S = 2.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiblingDrains:
    #: The other processes that answered, and the live sessions they ended.
    processes: int
    ended_sessions: int


class Siblings:
    def __init__(self, nc: NATS, dc: str, process: int, processes: int) -> None:
        self._nc = nc
        self._subject = DRAIN_PREFIX + dc
        self._me = str(process).encode()
        self._others = processes - 1

    async def tell_drain(self) -> SiblingDrains:
        """Tells the DC's other processes to drain; what those that answered within
        :data:`ANSWER_WAIT_S` (in all) said."""
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox)
        answered = ended = 0
        end = time.monotonic() + ANSWER_WAIT_S
        try:
            await self._nc.publish(self._subject, self._me, reply=inbox)
            while answered < self._others and (left := end - time.monotonic()) > 0:
                try:
                    msg = await sub.next_msg(timeout=left)
                except NatsTimeout:
                    break
                answered += 1
                ended += int(msg.data or b"0")
        finally:
            # The server keeps an inbox's interest until told (a client-side limit would not).
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        return SiblingDrains(answered, ended)

    async def run(self, drain: Callable[[], Awaitable[int]]) -> None:
        """Drains this process whenever another process of the DC says so."""

        async def heard(msg: Msg) -> None:
            if msg.data == self._me:  # its own word, already acted on
                return
            ended = await drain()
            log.info("drained at another gateway process's word (%d live sessions ended)", ended)
            if msg.reply:
                await self._nc.publish(msg.reply, str(ended).encode())

        await self._nc.subscribe(self._subject, cb=heard)
