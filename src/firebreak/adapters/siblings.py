"""What one gateway process of a DC tells the DC's other gateway processes: a drain.

A DC may run several gateway processes on one port (config.DCConfig.gateways); an operator's
``POST /internal/drain`` reaches one of them, but a planned outage must empty them all. The process
that was asked publishes ``eph.drain.<dc>`` on core NATS with a reply subject; every other process
of that DC drains when it hears it and answers with the live sessions it ended, and the asker
counts the answers that come within :data:`ANSWER_WAIT_S`.

A process that starts while the others drain (restarted after a crash, say) asks them first
(``eph.draining.<dc>``) and drains too if any of them does, before it serves (:attr:`settled`).
Core NATS, not the log: a drain lasts as long as one of the DC's processes keeps it, so a DC whose
processes are all restarted serves again (the planned outage's end), and a process that could not
ask (NATS unreachable then) serves until asked again (docs/DECISIONS.md).
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
DRAINING_PREFIX = "eph.draining."
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
        self._asking = DRAINING_PREFIX + dc
        self._me = str(process).encode()
        self._others = processes - 1
        #: Whether this process has asked the others if they drain (and drained if one does):
        #: until then it does not serve.
        self.settled = False

    async def tell_drain(self) -> SiblingDrains:
        """Tells the DC's other processes to drain; what those that answered within
        :data:`ANSWER_WAIT_S` (in all) said."""
        answers = await self._ask(self._subject)
        return SiblingDrains(len(answers), sum(int(a or b"0") for a in answers))

    async def _ask(self, subject: str) -> list[bytes]:
        """The answers of the other processes to ``subject``: all of them, or those that came
        within :data:`ANSWER_WAIT_S`."""
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox)
        answers: list[bytes] = []
        end = time.monotonic() + ANSWER_WAIT_S
        try:
            await self._nc.publish(subject, self._me, reply=inbox)
            while len(answers) < self._others and (left := end - time.monotonic()) > 0:
                try:
                    answers.append((await sub.next_msg(timeout=left)).data)
                except NatsTimeout:
                    break
        finally:
            # The server keeps an inbox's interest until told (a client-side limit would not).
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        return answers

    async def run(self, drain: Callable[[], Awaitable[int]], draining: Callable[[], bool]) -> None:
        """Drains this process whenever another process of the DC says so, and tells a process
        that starts whether this one drains; first asks the others the same, once, and drains if
        one of them does (:attr:`settled` after)."""

        async def heard(msg: Msg) -> None:
            if msg.data == self._me:  # its own word, already acted on
                return
            ended = await drain()
            log.info("drained at another gateway process's word (%d live sessions ended)", ended)
            if msg.reply:
                await self._nc.publish(msg.reply, str(ended).encode())

        async def asked(msg: Msg) -> None:
            if msg.data != self._me and msg.reply:
                await self._nc.publish(msg.reply, b"1" if draining() else b"0")

        try:
            await self._nc.subscribe(self._subject, cb=heard)
            await self._nc.subscribe(self._asking, cb=asked)
            if b"1" in await self._ask(self._asking):
                ended = await drain()
                log.info("drained on start: another gateway process of the DC drains (%d sessions)", ended)
        except nats.errors.Error:
            log.warning("could not ask the other gateway processes whether they drain", exc_info=True)
        finally:
            self.settled = True
