"""Where each stream ends, as its leader says, asked every few seconds: the read-model lag metric
compares it with what this DC has applied (adapters/metrics.py, docs/OPERATIONS.md).

Between two asks the answer is stale, so the lag it yields can only be too small, never too large:
what this DC's readers have received counts too (``highest``), and that is always current.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)


class LogPositions:
    def __init__(
        self, last_seq: Callable[[str], Awaitable[int]], streams: Sequence[str], every_s: float = 5.0
    ) -> None:
        self._last_seq = last_seq
        self._streams = list(streams)
        self._every_s = every_s
        #: stream -> the last sequence its leader reported
        self.last: dict[str, int] = {}

    async def run(self) -> None:
        while True:
            for stream in self._streams:
                try:
                    self.last[stream] = await self._last_seq(stream)
                except Exception:  # no leader now (an election, no quorum): ask again next round
                    log.debug("no last sequence for %s this round", stream, exc_info=True)
            await asyncio.sleep(self._every_s)

    def known(self, *others: dict[str, int]) -> dict[str, int]:
        """Per stream, the highest last sequence known: the leader's last answer or any of ``others``."""
        out = dict(self.last)
        for positions in others:
            for stream, seq in positions.items():
                out[stream] = max(out.get(stream, 0), seq)
        return out
