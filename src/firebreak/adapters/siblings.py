"""What one gateway process of a DC tells the DC's other gateway processes: a drain.

A DC may run several gateway processes on one port (config.DCConfig.gateways); an operator's
``POST /internal/drain`` reaches one of them, but a planned outage must empty them all. The process
that was asked publishes ``eph.drain.<dc>`` on core NATS; every process of that DC (the sender
too, harmlessly) drains when it hears it. Core NATS, not the log: a drain is not kept, and a
process that starts after it serves until asked again, as a restarted single gateway does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

DRAIN_PREFIX = "eph.drain."

log = logging.getLogger(__name__)


class Siblings:
    def __init__(self, nc: NATS, dc: str) -> None:
        self._nc = nc
        self._subject = DRAIN_PREFIX + dc

    async def tell_drain(self) -> None:
        await self._nc.publish(self._subject, b"")
        # Flushed: the operator's answer comes after the other processes were told.
        await self._nc.flush()

    async def run(self, drain: Callable[[], Awaitable[int]]) -> None:
        """Drains this process whenever a sibling says so (until the NATS connection closes)."""

        async def heard(_: Msg) -> None:
            ended = await drain()
            log.info("drained on a sibling's word (%d live sessions ended)", ended)

        await self._nc.subscribe(self._subject, cb=heard)
