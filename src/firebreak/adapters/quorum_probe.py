"""When this DC last saw a stream of the log with a working quorum (for service/cutoff.py).

Each round asks every stream of the log for its state (``STREAM.INFO``, answered by the stream's
leader). A stream is *in touch* in a round when its leader answers and is not alone: the leader is
another DC's node, or, when it is this DC's own node, another replica has been active within
:data:`QUORUM_ACTIVE_S`. A leader cut off from its followers keeps calling itself leader for a
while (nats-server's lost-quorum interval), so an answer alone is not enough.

Asking every stream, the KV buckets included, matters: losing one DC costs the streams it led an
election, and only a DC cut off from the others loses every stream at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import StreamInfo

log = logging.getLogger(__name__)

#: A follower heard from this recently (nats-server reports ``active`` per replica) still forms a
#: quorum with this DC's leader; Raft heartbeats every second.
QUORUM_ACTIVE_S = 2.5


def in_touch(info: StreamInfo, dc: str) -> bool:
    """Whether a stream's state, as its leader answered, shows a quorum this DC is part of."""
    cluster = info.cluster
    if cluster is None or cluster.leader is None:
        return False
    if cluster.leader != dc:
        return True
    return any(
        not peer.offline and peer.active is not None and peer.active / 1e9 < QUORUM_ACTIVE_S
        for peer in cluster.replicas or []
    )


class QuorumProbe:
    """:meth:`run` asks every ``every_s``; :attr:`last_contact` is the last time (``clock``) any
    stream was in touch."""

    def __init__(
        self,
        nc: NATS,
        dc: str,
        streams: list[str],
        *,
        every_s: float = 0.5,
        timeout_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._js = nc.jetstream(timeout=timeout_s)
        self._dc = dc
        self._streams = streams
        self._every_s = every_s
        self._clock = clock
        self.last_contact = clock()

    async def _ask(self, stream: str) -> None:
        try:
            info = await self._js.stream_info(stream)
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
            log.debug("%s: no quorum seen: %r", stream, exc)
            return
        if in_touch(info, self._dc):
            self.last_contact = self._clock()

    async def run(self) -> None:
        """Asks until cancelled."""
        while True:
            await asyncio.gather(*(self._ask(stream) for stream in self._streams))
            await asyncio.sleep(self._every_s)
