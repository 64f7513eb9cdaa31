"""Waiting until a DC serves: each of its gateway processes has answered ``/healthz`` ready.

Where a DC runs several gateway processes on one port (config.DCConfig.gateways), each new
connection may reach another of them, so the wait asks on new connections until every process
has said so (the answer names its ``process``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

#: Between two answers that are not yet enough: a starting process is polled this often.
POLL_S = 0.1
#: After a ready answer from a process already seen: soon again, as a new connection may reach
#: another process, but never in a tight loop.
AGAIN_S = 0.02


class NotReady(Exception):
    def __init__(self, waiting: str, unseen: list[int]) -> None:
        super().__init__(waiting)
        self.waiting = waiting
        #: The processes that have not answered ready.
        self.unseen = unseen


async def every_process_ready(
    http: httpx.AsyncClient, url: str, processes: int, check_exits: Callable[[], None], end: float
) -> None:
    """Returns once each of ``processes`` has answered ready at ``url``; raises :class:`NotReady`
    at ``end`` (time.monotonic). ``check_exits`` raises if a process has exited."""
    unseen = set(range(1, processes + 1))
    waiting = "no answer on /healthz"
    while True:
        check_exits()
        pause = POLL_S
        try:
            health = (await http.get(url)).json()
            if health["ready"]:
                unseen.discard(int(health.get("process", 1)))
                if not unseen:
                    return
                waiting = f"gateway process {min(unseen)} has not answered ready"
                pause = AGAIN_S
            else:
                waiting = str(health.get("starting") or health.get("waiting_for") or "not ready")
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if time.monotonic() > end:
            raise NotReady(waiting, sorted(unseen))
        await asyncio.sleep(pause)
