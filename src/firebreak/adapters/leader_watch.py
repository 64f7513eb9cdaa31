"""Which DC's node leads each stream, as far as this gateway knows.

Used for the write hint (``Firebreak-Write-Url``, docs/API.md): a send's answer names the DC
whose node leads the room's stream, and clients send the room's next writes there. The hint is
only a preference, so stale knowledge costs a little speed and nothing else: every node accepts
an append and JetStream forwards it to the leader.

Learned from:

* JetStream's leader-elected advisory, the moment a leader is elected (``$JS.EVENT.ADVISORY``
  subjects are core NATS: at most once, and one may be missed while the connection is down);
* a stream-info request per stream every ``refresh_s``, which also fills the map at start.

Nodes are named after their DC (``server_name`` in localcluster/cluster.py), so a leader's name is
a DC's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

log = logging.getLogger(__name__)

LEADER_ELECTED = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED"


class StreamLeaders:
    """The leader's DC per stream; :meth:`run` keeps it fresh until cancelled."""

    def __init__(self, nc: NATS, streams: list[str], *, refresh_s: float = 5.0) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=5.0)
        self._streams = streams
        self._refresh_s = refresh_s
        #: stream -> DC whose node leads it; absent while unknown
        self._leaders: dict[str, str] = {}

    def leader(self, stream: str) -> str | None:
        """The DC believed to lead ``stream`` (None: unknown)."""
        return self._leaders.get(stream)

    async def run(self) -> None:
        sub = await self._nc.subscribe(f"{LEADER_ELECTED}.*", cb=self._on_elected)
        try:
            while True:
                await self._refresh()
                await asyncio.sleep(self._refresh_s)
        finally:
            with contextlib.suppress(Exception):  # the connection may be closing already
                await sub.unsubscribe()

    async def _on_elected(self, msg: Msg) -> None:
        try:
            advisory = json.loads(msg.data)
            stream, leader = advisory["stream"], advisory["leader"]
        except (ValueError, KeyError, TypeError):
            return
        if stream in self._streams and isinstance(leader, str):
            self._leaders[stream] = leader

    async def _refresh(self) -> None:
        for stream in self._streams:
            try:
                info = await self._js.stream_info(stream)
            except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
                log.debug("leader of %s not refreshed: %r", stream, exc)
                continue  # keep what we had: a hint, not a rule
            leader = info.cluster.leader if info.cluster else None
            if leader is None:
                self._leaders.pop(stream, None)
            else:
                self._leaders[stream] = leader
