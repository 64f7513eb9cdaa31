"""Connections to one named DC's node each, for the questions only that node answers right.

A stream-info question asked through this DC's node can get, for seconds on end, the answer of a
member that believes the stream leaderless (a node rejoined with an empty store does), while the
leader's answer never reaches it; asked at the leader's own node, the leader answers at once
(probed during drills: docs/READ_MODELS.md). :meth:`nats_log.Log.last_seq` asks there when an
answer names a leader but did not come from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from firebreak.adapters import nats_connect
from firebreak.config import Config

log = logging.getLogger(__name__)


class NodeLinks:
    """One connection per DC asked for, made when first needed and kept while it stays up."""

    def __init__(self, config: Config, name: str, timeout_s: float) -> None:
        self._config = config
        self._name = name
        self._timeout_s = timeout_s
        self._links: dict[str, NATS] = {}
        # Readiness asks about every stream at once: one connection per DC, not one per question.
        self._connecting = asyncio.Lock()

    async def at(self, dc: str) -> JetStreamContext | None:
        """A JetStream context on a connection to ``dc``'s node alone; None for a name that is no
        DC of the cluster, or a node that does not take the connection."""
        if dc not in {d.name for d in self._config.dcs}:
            return None
        async with self._connecting:
            nc = self._links.get(dc)
            if nc is None or not nc.is_connected:
                if nc is not None:
                    with contextlib.suppress(Exception):
                        await nc.close()
                    del self._links[dc]
                try:
                    nc = await nats_connect.connect(self._config, dc, self._name, only_preferred=True)
                except (OSError, TimeoutError, nats.errors.Error) as exc:
                    log.info("could not connect to %s's node: %r", dc, exc)
                    return None
                self._links[dc] = nc
        return nc.jetstream(timeout=self._timeout_s)

    async def close(self) -> None:
        for nc in self._links.values():
            with contextlib.suppress(Exception):
                await nc.close()
        self._links.clear()
