"""Sends each append straight to its stream leader's own node.

A gateway's main connection is to its own DC's node. An append to a stream led in another DC
then goes gateway -> own node -> (route) -> leader, and its acknowledgement back the same way, so
two nodes parse and forward every such message twice more. With three room partitions two thirds
of all appends took that detour. Measured in 20 x 20 (docs/PERFORMANCE.md): when the appends
reached their leader's node directly, nats-server CPU per message fell by about a third.

This is only ever a shortcut, never a condition for writing: any node accepts an append and
JetStream forwards it to the leader, and ``Nats-Msg-Id`` makes a retry through another connection
safe. So whenever the shortcut is in doubt the append takes the main connection, exactly as
before: the leader is unknown or in this DC, the direct connection is down, or the last attempt
through it failed.

What is known per stream is just the leader's DC (nodes are named after their DC), learned from:

* JetStream's leader-elected advisory on the main connection, the moment a leader is elected;
* a stream-info request every ``refresh_s`` (advisories are at most once, and one may be missed
  while a connection is down);
* and forgotten when an attempt through the direct connection fails (the leader's DC may have
  burned: the next attempt goes through this DC's node, which reaches the new leader).

Direct connections, one per other DC, go to that DC's node only and are opened in the background
(a DC that is down costs a reconnect loop and nothing else); nats-py reopens them after a break.
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
from nats.js import JetStreamContext

from firebreak.adapters.nats_client import Client
from firebreak.config import Config, DCConfig
from firebreak.domain.ids import ACCOUNTS_STREAM, room_stream

log = logging.getLogger(__name__)

LEADER_ELECTED = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED"


def stream_of(subject: str) -> str | None:
    """The stream that captures ``subject`` (see nats_log.stream_subjects), or None."""
    head, _, rest = subject.partition(".")
    if head == "acct":
        return ACCOUNTS_STREAM
    if head == "rooms":
        partition = rest.partition(".")[0]
        if partition.isdigit():
            return room_stream(int(partition))
    return None


class LeaderRoutes:
    """Picks the connection for an append: the leader's node when known and connected, else the
    main one. Runs one background task (:meth:`run`) that keeps the leaders and connections fresh."""

    def __init__(
        self, config: Config, local_dc: str, main: NATS, streams: list[str], *, refresh_s: float = 5.0
    ) -> None:
        self._config = config
        self._local_dc = local_dc
        self._main = main
        self._main_js = main.jetstream(timeout=5.0)
        self._streams = streams
        self._refresh_s = refresh_s
        #: stream -> DC whose node leads it; absent while unknown
        self._leaders: dict[str, str] = {}
        #: DC -> (connection to its node only, its JetStream context), once connected
        self._direct: dict[str, tuple[NATS, JetStreamContext]] = {}
        self._opening: dict[str, asyncio.Task[None]] = {}

    def leader(self, stream: str) -> str | None:
        """The DC believed to lead ``stream`` (None: unknown)."""
        return self._leaders.get(stream)

    def route(self, subject: str) -> tuple[NATS, JetStreamContext]:
        """The connection (and its JetStream context) to append to ``subject`` through now."""
        stream = stream_of(subject)
        dc = self._leaders.get(stream) if stream is not None else None
        if dc is not None and dc != self._local_dc:
            direct = self._direct.get(dc)
            if direct is not None and direct[0].is_connected:
                return direct
        return self._main, self._main_js

    def failed(self, subject: str, nc: NATS) -> None:
        """An attempt through ``nc`` failed: until the leader is learned again, use the main
        connection for this stream (the leader may be gone with its DC)."""
        stream = stream_of(subject)
        if nc is not self._main and stream is not None:
            self._leaders.pop(stream, None)

    async def run(self) -> None:
        """Until cancelled: follows leader elections, refreshes leaders, opens direct connections."""
        sub = await self._main.subscribe(f"{LEADER_ELECTED}.*", cb=self._on_elected)
        try:
            for dc in self._config.dcs:
                if dc.name != self._local_dc:
                    self._opening[dc.name] = asyncio.create_task(self._open(dc), name=f"route-{dc.name}")
            while True:
                await self._refresh()
                await asyncio.sleep(self._refresh_s)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            await self.close()

    async def close(self) -> None:
        for task in self._opening.values():
            task.cancel()
        for task in self._opening.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._opening.clear()
        direct, self._direct = self._direct, {}
        for nc, _ in direct.values():
            with contextlib.suppress(Exception):
                await nc.close()

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
                info = await self._main_js.stream_info(stream)
            except (nats.errors.Error, nats.js.errors.Error, TimeoutError):
                continue  # keep what we had; a failed append forgets it anyway
            leader = info.cluster.leader if info.cluster else None
            if leader is None:
                self._leaders.pop(stream, None)
            else:
                self._leaders[stream] = leader

    async def _open(self, dc: DCConfig) -> None:
        """Connects to ``dc``'s node, trying until it answers (the first attempt may find the DC
        down); afterwards nats-py reconnects by itself."""
        s = self._config.secrets
        while True:
            nc = Client()

            async def quiet(exc: Exception) -> None:
                log.debug("route to %s: %s", dc.name, exc)

            try:
                await nc.connect(
                    servers=[dc.nats_url],
                    user=s.nats_user,
                    password=s.nats_password,
                    name=f"gateway-{self._local_dc}-to-{dc.name}",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.25,  # type: ignore[arg-type]  # annotated int, used as float seconds
                    connect_timeout=2,
                    ping_interval=2,
                    max_outstanding_pings=2,
                    allow_reconnect=True,
                    error_cb=quiet,
                )
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.debug("route to %s not open yet: %s", dc.name, exc)
                await asyncio.sleep(1.0)
                continue
            self._direct[dc.name] = (nc, nc.jetstream(timeout=5.0))
            return
