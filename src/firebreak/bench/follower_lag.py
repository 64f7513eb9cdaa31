"""How far stream followers trail their leaders while the bench sends: what the leader balancer's
"keeps up" limit (adapters/leadership.py ``CAUGHT_UP_LAG``) must allow a healthy follower.

Every ``every_s`` it asks each stream's leader for its followers' lag (entries acknowledged
behind the commit) and whether nats-server calls them current, as the balancer does each round.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from firebreak.adapters.leadership import CAUGHT_UP_LAG, LEADERSHIP_ERRORS, stream_names
from firebreak.adapters.nats_connect import connect
from firebreak.adapters.nats_log import answered_by_leader
from firebreak.config import Config
from firebreak.stats import quantile
from firebreak.tasks import cancel_all, raise_failure

log = logging.getLogger(__name__)


class FollowerLag(msgspec.Struct, frozen=True):
    #: follower samples taken (one per follower of each stream per round)
    samples: int
    #: share of them nats-server did not call current
    not_current: float
    #: share of them more than CAUGHT_UP_LAG entries behind
    over_limit: float
    p99_lag: int
    max_lag: int
    #: the stream the largest lag was seen on
    max_lag_stream: str


class FollowerLagSampler:
    """Samples until stopped; :meth:`result` sums up what it saw."""

    def __init__(self, config: Config, every_s: float = 1.0) -> None:
        self._config = config
        self._every_s = every_s
        self._lags: list[tuple[int, str]] = []
        self._not_current = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="follower-lag")

    async def stop(self) -> FollowerLag:
        if self._task is not None:
            # A sampler that would not stop is left behind: the bench's own figures stand.
            if await cancel_all([self._task]):
                log.warning("the follower-lag sampler did not stop")
            raise_failure([self._task])
        return self.result()

    async def _run(self) -> None:
        try:
            nc = await connect(self._config, prefer_dc=None, name="bench-follower-lag", role="ops")
        except LEADERSHIP_ERRORS:
            return  # no samples: the result says so (samples 0); the bench's own figures stand
        try:
            js = nc.jetstream(timeout=2.0)
            streams = stream_names(self._config)
            while True:
                for stream in streams:
                    try:
                        info = await js.stream_info(stream)
                    except LEADERSHIP_ERRORS:
                        continue  # an election: no lag to read this round
                    if not answered_by_leader(info.cluster):
                        continue  # only the leader knows how far its followers are
                    for peer in (info.cluster.replicas or []) if info.cluster else []:
                        if peer.offline:
                            continue
                        self._lags.append((peer.lag or 0, stream))
                        self._not_current += not peer.current
                await asyncio.sleep(self._every_s)
        finally:
            await nc.close()

    def result(self) -> FollowerLag:
        if not self._lags:
            return FollowerLag(0, 0.0, 0.0, 0, 0, "")
        ordered = sorted(lag for lag, _ in self._lags)
        top, stream = max(self._lags)
        n = len(self._lags)
        over = sum(lag > CAUGHT_UP_LAG for lag in ordered)
        return FollowerLag(
            samples=n,
            not_current=round(self._not_current / n, 3),
            over_limit=round(over / n, 4),
            p99_lag=int(quantile(ordered, 0.99)),
            max_lag=top,
            max_lag_stream=stream,
        )
