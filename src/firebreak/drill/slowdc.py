"""The ``slow`` and ``restore`` disasters (scenario ``slow-dc``): one DC's links degraded.

Writes go on: every DC still reaches a quorum. What a slow DC costs is that each write led from
it waits for its nearest follower across a slow link, and a write sent to it waits to reach its
leader across one. Clients move away from it for writes through the write hint: the leader
balancer (service/balancer.py) takes leaders off a DC much farther from its peers than the others
(domain/placement.py ``too_far``), and each send's answer names the DC leading the room's stream,
where the client sends next. The drill marks when no stream is led from the slow DC any more, so
the verdict's phases show the write latency before, while the leaders were still there, after
they left, and after the links were restored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from firebreak.adapters import leadership
from firebreak.config import Config
from firebreak.drill.plan import Disaster, DrillOptions
from firebreak.errors import FirebreakError
from firebreak.localcluster.linkfaults import LinkFault
from firebreak.localcluster.links import LinkProxies

#: How long the drill watches for the leaders to leave a slowed DC before it stops watching.
LEADERS_OFF_WITHIN_S = 60.0


class SlowLinks:
    """Slows and restores DCs' links during a drill, and marks what follows."""

    def __init__(
        self,
        config: Config,
        options: DrillOptions,
        links: LinkProxies | None,
        pick: Callable[[str], Awaitable[str]],
        mark: Callable[[str, str], None],
    ) -> None:
        self._config = config
        self._o = options
        self._links = links
        self._pick = pick
        self._mark = mark
        #: DCs whose links are slow right now
        self.slowed: list[str] = []

    def _proxies(self) -> LinkProxies:
        if self._links is None:
            raise FirebreakError("a slow link needs the link proxies", code="invalid_disaster")
        return self._links

    async def apply(self, d: Disaster) -> None:
        links = self._proxies()
        if d.kind == "slow":
            dc = await self._pick(d.dc)
            links.set_dc(dc, LinkFault(delay_ms=self._o.slow_delay_ms, loss=self._o.slow_loss))
            self.slowed.append(dc)
            self._mark(f"slow {dc}", dc)
            await self._watch_leaders_leave(dc)
        else:
            for dc in [d.dc] if d.dc else list(self.slowed):
                links.set_dc(dc, links.default)
                if dc in self.slowed:
                    self.slowed.remove(dc)
                self._mark(f"restore {dc}", dc)

    async def _watch_leaders_leave(self, dc: str) -> None:
        end = time.monotonic() + LEADERS_OFF_WITHIN_S
        while dc in self.slowed and time.monotonic() < end:
            try:
                leaders = await leadership.leaders(self._config)
            except leadership.LEADERSHIP_ERRORS:
                # Over the slowed, lossy link a stream-info request can time out: not an answer yet.
                leaders = {}
            if leaders and dc not in leaders.values():
                self._mark(f"leaders off {dc}", dc)
                return
            await asyncio.sleep(0.25)
