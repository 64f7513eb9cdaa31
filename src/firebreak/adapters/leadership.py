"""Where stream leaders live, and moving them (a planned move takes ~23 ms; an election 4-9 s)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import PeerInfo

from firebreak.adapters.counters import COUNTERS_STREAM
from firebreak.adapters.log_setup import SECRETS_BUCKET
from firebreak.adapters.nats_connect import BRISK, TRANSIENT, ask, connect
from firebreak.adapters.object_files import FILES_STREAM, UPLOADS_STREAM
from firebreak.adapters.oidc_store import OIDC_BUCKET
from firebreak.adapters.ops_board import OPS_BUCKET
from firebreak.config import Config
from firebreak.domain.ids import ACCOUNTS_STREAM, WALLETS_STREAM, room_stream

#: What a failed leadership request raises (the caller tries again later).
LEADERSHIP_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, nats.errors.Error, nats.js.errors.Error)


def stream_names(config: Config) -> list[str]:
    """Every stream whose leader matters: accounts, room partitions, the wallet ledger, the KV
    buckets, the attempt counters, and the attachments' object store and uploads."""
    rooms = [room_stream(p) for p in range(config.partitions)]
    return [
        ACCOUNTS_STREAM,
        *rooms,
        WALLETS_STREAM,
        f"KV_{SECRETS_BUCKET}",
        f"KV_{OPS_BUCKET}",
        COUNTERS_STREAM,
        f"KV_{OIDC_BUCKET}",
        FILES_STREAM,
        UPLOADS_STREAM,
    ]


#: A follower keeps up while it is at most this many entries behind its leader's commit and was
#: heard from within HEARD_WITHIN_S. nats-server calls a follower current only when it has
#: acknowledged everything committed, which under steady writes the slower follower of a stream
#: seldom has at the instant asked (the ops board's stream, just written by the asking balancer's
#: heartbeat, shows its followers an entry or two behind). The limit is the entries a healthy
#: follower can have in flight under load (docs/DECISIONS.md, "Leaders move on a settled
#: judgment"); a rebuilt DC is kept from leading by its gateway, which serves only once caught up.
CAUGHT_UP_LAG = 100
#: nats-server's own test of a peer before it hands leadership to it: heard from within 3 heartbeats
#: (1 s each); a follower wedged in one stream's group still shows its last lag.
HEARD_WITHIN_S = 3.0


@dataclass(frozen=True)
class StreamPlacement:
    #: The DC whose node leads the stream (None: no leader now).
    leader: str | None
    #: The DCs whose replica is current as nats-server says: the leader and every follower online
    #: that has acknowledged all the leader has committed and was heard from lately.
    current: frozenset[str]
    #: The DCs whose replica keeps up (what the leader balancer asks): the leader and every
    #: follower online, heard from within HEARD_WITHIN_S and at most CAUGHT_UP_LAG entries behind.
    keeping_up: frozenset[str]


class Leadership:
    """Reads where stream leaders are and asks them to move, over an open connection."""

    def __init__(self, nc: NATS, timeout_s: float = 5.0) -> None:
        """``timeout_s``: how long a question is asked (again, while unanswered) for the leader's answer."""
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout_s)
        self._timeout_s = timeout_s

    async def placement(self, stream: str) -> StreamPlacement:
        info = await ask(
            lambda: self._js.stream_info(stream),
            retry_on=TRANSIENT,
            deadline=time.monotonic() + self._timeout_s,
            backoff=BRISK,
        )
        cluster = info.cluster
        leader = cluster.leader if cluster and cluster.leader else None
        current = {leader} if leader else set()
        keeping_up = set(current)
        for peer in (cluster.replicas or []) if cluster else []:
            if not peer.name or peer.offline:
                continue
            if peer.current:
                current.add(peer.name)
            if _keeps_up(peer):
                keeping_up.add(peer.name)
        return StreamPlacement(leader, frozenset(current), frozenset(keeping_up))

    async def step_down(self, stream: str, preferred: str) -> None:
        """Asks the stream's leader to hand over to ``preferred`` (a planned move: ~23 ms)."""
        await self._nc.request(
            f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}",
            json.dumps({"placement": {"preferred": preferred}}).encode(),
            timeout=5.0,
        )


def _keeps_up(peer: PeerInfo) -> bool:
    heard = peer.active is not None and peer.active <= HEARD_WITHIN_S * 1e9  # nanoseconds, as sent
    return heard and (bool(peer.current) or (peer.lag is not None and peer.lag <= CAUGHT_UP_LAG))


async def leaders(config: Config) -> dict[str, str | None]:
    nc = await connect(config, prefer_dc=None, name="leadership", role="ops")
    try:
        leadership = Leadership(nc)
        return {name: (await leadership.placement(name)).leader for name in stream_names(config)}
    finally:
        await nc.close()


async def move(config: Config, placement: dict[str, str], deadline_s: float = 20.0) -> dict[str, str | None]:
    """Asks each named stream's leader to step down in favour of the given DC; returns the leaders after."""
    nc = await connect(config, prefer_dc=None, name="leadership", role="ops")
    try:
        leadership = Leadership(nc)
        end = time.monotonic() + deadline_s
        result: dict[str, str | None] = {}
        for stream, target in placement.items():
            while True:
                try:
                    leader = (await leadership.placement(stream)).leader
                    if leader == target:
                        result[stream] = leader
                        break
                    await leadership.step_down(stream, target)
                except LEADERSHIP_ERRORS:
                    pass
                if time.monotonic() > end:
                    result[stream] = None
                    break
                await asyncio.sleep(0.2)
        return result
    finally:
        await nc.close()


async def spread(config: Config) -> dict[str, str | None]:
    names = [d.name for d in config.dcs]
    return await move(config, {s: names[i % len(names)] for i, s in enumerate(stream_names(config))})
