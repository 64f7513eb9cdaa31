"""When the leader balancer moves leaders, and when it leaves them be (no I/O): a DC's standing
(domain/placement.py ``Eligibility``), the plan that leaves a waiting DC's leaders alone, the
balancer acting on both with an in-memory board, and what counts as a replica that keeps up
(adapters/leadership.py)."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from nats.js.api import ClusterInfo, PeerInfo, StreamConfig, StreamInfo, StreamState

from firebreak.adapters.leadership import CAUGHT_UP_LAG, HEARD_WITHIN_S, Leadership, StreamPlacement
from firebreak.adapters.ops_board import DCHeartbeat
from firebreak.domain.placement import Eligibility, Standing, Unfit, moves
from firebreak.service.balancer import Balancer
from tests.helpers import HeldBoard

DCS = ["dc1", "dc2", "dc3"]
FIT = None
#: nats-server reports how long ago it heard from a peer in nanoseconds.
SECOND = 1_000_000_000


def test_a_dc_leads_after_two_fit_rounds_and_waits_until_then() -> None:
    rules = Eligibility(DCS)
    assert set(rules.judge({"dc1": FIT, "dc2": FIT, "dc3": FIT}).values()) == {Standing.WAITING}
    assert set(rules.judge({"dc1": FIT, "dc2": FIT, "dc3": FIT}).values()) == {Standing.LEADS}


def test_one_round_behind_keeps_a_dc_leading_two_take_its_leaders() -> None:
    rules = Eligibility(DCS)
    for _ in range(2):
        rules.judge({"dc1": FIT, "dc2": FIT, "dc3": FIT})
    behind = {"dc1": FIT, "dc2": FIT, "dc3": Unfit.BEHIND}
    fit = {"dc1": FIT, "dc2": FIT, "dc3": FIT}
    assert rules.judge(behind)["dc3"] is Standing.LEADS_BEHIND, "keeps its leaders, is given none"
    assert rules.judge(fit)["dc3"] is Standing.LEADS
    assert rules.judge(behind)["dc3"] is Standing.LEADS_BEHIND
    assert rules.judge(behind)["dc3"] is Standing.OUT
    assert rules.judge(behind)["dc3"] is Standing.OUT
    assert rules.judge(fit)["dc3"] is Standing.WAITING
    assert rules.judge(fit)["dc3"] is Standing.LEADS


def test_an_out_dc_stays_out_through_a_round_behind() -> None:
    rules = Eligibility(DCS)
    for _ in range(2):
        rules.judge({"dc1": FIT, "dc2": FIT, "dc3": FIT})
    assert rules.judge({"dc1": FIT, "dc2": FIT, "dc3": Unfit.DRAINING})["dc3"] is Standing.OUT
    assert rules.judge({"dc1": FIT, "dc2": FIT, "dc3": Unfit.BEHIND})["dc3"] is Standing.OUT


def test_a_dc_now_and_then_behind_comes_to_lead() -> None:
    """A round behind does not undo the fit rounds before it: a DC whose replicas are caught
    behind every other round still comes to lead (and is given nothing in the rounds behind)."""
    rules = Eligibility(DCS)
    standings = [
        rules.judge({"dc1": FIT, "dc2": FIT, "dc3": FIT if n % 2 else Unfit.BEHIND})["dc3"] for n in range(6)
    ]
    assert standings[:3] == [Standing.WAITING] * 3
    assert standings[3::2] == [Standing.LEADS] * 2
    assert standings[4] is Standing.LEADS_BEHIND


def test_draining_gone_not_serving_or_far_is_out_at_once() -> None:
    for reason in (Unfit.DRAINING, Unfit.NOT_SERVING, Unfit.TOO_FAR, Unfit.NO_HEARTBEAT):
        rules = Eligibility(DCS)
        for _ in range(2):
            rules.judge({"dc1": FIT, "dc2": FIT, "dc3": FIT})
        assert rules.judge({"dc1": FIT, "dc2": FIT, "dc3": reason})["dc3"] is Standing.OUT, reason
    rules = Eligibility(DCS)
    assert rules.judge({"dc1": FIT, "dc2": FIT})["dc3"] is Standing.OUT, "no verdict: no heartbeat"


def test_a_waiting_dc_keeps_its_leaders_and_gets_none() -> None:
    leaders: dict[str, str | None] = {"A": "dc3", "B": "dc3", "C": "dc3", "D": "dc1", "E": "dc2"}
    assert moves(leaders, ["dc1", "dc2"], keeping=["dc3"]) == []
    leaders = {"A": "dc1", "B": "dc1", "C": "dc1", "D": "dc3"}
    planned = moves(leaders, ["dc1", "dc2"], keeping=["dc3"])
    assert [target for _, target in planned] == ["dc2"]
    assert "D" not in {stream for stream, _ in planned}


class _Leaders(Leadership):
    """Leaders in memory; ``behind`` names the DCs whose replicas lag this round."""

    def __init__(self, leaders: dict[str, str]) -> None:
        self.leaders = leaders
        self.behind: set[str] = set()
        self.moved: list[tuple[str, str]] = []

    async def placement(self, stream: str) -> StreamPlacement:
        leader = self.leaders[stream]
        keeping_up = frozenset({leader, *DCS} - self.behind)
        return StreamPlacement(leader, keeping_up, keeping_up)

    async def step_down(self, stream: str, preferred: str) -> None:
        self.moved.append((stream, preferred))
        self.leaders[stream] = preferred


SERVING = DCHeartbeat(ready=True, draining=False, nearest_peer_ms=1.0)
STARTING = DCHeartbeat(ready=False, draining=False, nearest_peer_ms=1.0)


def _balancer(beats: dict[str, DCHeartbeat], leaders: _Leaders) -> Balancer:
    return Balancer(
        HeldBoard(beats), leaders, dc="dc1", dcs=DCS, streams=list(leaders.leaders), heartbeat=lambda: SERVING
    )


async def test_a_dc_that_serves_a_round_after_the_others_keeps_its_leaders() -> None:
    """A cluster whose third DC serves one round later than the other two: its leaders stay
    (three were moved away and back, in new clusters' first minute, before the waiting standing)."""
    beats = {"dc1": SERVING, "dc2": SERVING, "dc3": STARTING}
    leaders = _Leaders({"A": "dc1", "B": "dc2", "C": "dc3", "D": "dc1", "E": "dc2", "F": "dc3"})
    balancer = _balancer(beats, leaders)
    await balancer.round()
    beats["dc3"] = SERVING
    for _ in range(4):
        await balancer.round()
    assert leaders.moved == []


async def test_a_replica_behind_for_one_round_moves_nothing_for_two_rounds_moves_its_leaders() -> None:
    beats = {"dc1": SERVING, "dc2": SERVING, "dc3": SERVING}
    leaders = _Leaders({"A": "dc1", "B": "dc2", "C": "dc3"})
    balancer = _balancer(beats, leaders)
    for _ in range(2):
        await balancer.round()
    leaders.behind = {"dc3"}
    assert await balancer.round() == []
    leaders.behind = set()
    assert await balancer.round() == []
    leaders.behind = {"dc3"}
    assert await balancer.round() == []
    assert await balancer.round() == [("C", "dc1")]


async def test_a_leading_dc_behind_this_round_is_given_no_leader() -> None:
    """dc2 drains while dc3 is behind for a round: dc2's leaders go to dc1, none to dc3 (a hand-
    over to a replica behind waits for it to catch up, with no leader meanwhile)."""
    beats = {"dc1": SERVING, "dc2": SERVING, "dc3": SERVING}
    leaders = _Leaders({"A": "dc1", "B": "dc2", "C": "dc3", "D": "dc2"})
    balancer = _balancer(beats, leaders)
    for _ in range(2):
        await balancer.round()
    beats["dc2"] = DCHeartbeat(ready=True, draining=True, nearest_peer_ms=1.0)
    leaders.behind = {"dc3"}
    assert await balancer.round() == [("B", "dc1"), ("D", "dc1")]


async def test_leaders_do_not_pile_on_the_one_dc_that_may_lead() -> None:
    """One DC leads, one waits (it came up a round ago), one drains: nothing moves until a second
    DC may lead, then the draining DC's leaders are shared (`firebreak dc evacuate` does not wait
    for this: it moves them itself)."""
    beats = {"dc1": SERVING, "dc2": STARTING, "dc3": SERVING}
    leaders = _Leaders({"A": "dc1", "B": "dc2", "C": "dc3", "D": "dc3"})
    balancer = _balancer(beats, leaders)
    for _ in range(2):
        await balancer.round()
    beats["dc2"] = SERVING
    beats["dc3"] = DCHeartbeat(ready=True, draining=True, nearest_peer_ms=1.0)
    assert await balancer.round() == []
    assert len(await balancer.round()) == 2
    assert "dc3" not in leaders.leaders.values()
    assert sorted(Counter(leaders.leaders.values()).values()) == [2, 2]


async def test_each_change_of_standing_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    beats = {"dc1": SERVING, "dc2": SERVING, "dc3": SERVING}
    leaders = _Leaders({"A": "dc1", "B": "dc2", "C": "dc3"})
    balancer = _balancer(beats, leaders)
    caplog.set_level(logging.INFO, logger="firebreak.service.balancer")
    for _ in range(2):
        await balancer.round()
    leaders.behind = {"dc3"}
    await balancer.round()
    await balancer.round()
    said = [r.getMessage() for r in caplog.records]
    assert said.count("dc1: dc3 may lead") == 1, said
    assert "dc1: dc3 may lead, given none this round: a replica of it is behind (A, B, C)" in said
    out = said.index("dc1: dc3 may not lead: a replica of it is behind (A, B, C)")
    assert said[out + 1] == "dc1: moving the leader of C to dc1", "the reason comes before the move"


class _JetStream:
    def __init__(self, info: StreamInfo) -> None:
        self.info = info

    async def stream_info(self, name: str) -> StreamInfo:
        return self.info


class _Connection:
    def __init__(self, info: StreamInfo) -> None:
        self.info = info

    def jetstream(self, **_: Any) -> _JetStream:
        return _JetStream(self.info)


def _info(*replicas: PeerInfo) -> StreamInfo:
    cluster = ClusterInfo(leader="dc1", replicas=list(replicas))
    return StreamInfo(
        config=StreamConfig(name="S"),
        state=StreamState(messages=0, bytes=0, first_seq=0, last_seq=0, consumer_count=0),
        cluster=cluster,
    )


async def _placed(info: StreamInfo) -> StreamPlacement:
    """What Leadership makes of a stream-info answer."""
    return await Leadership(_Connection(info)).placement("S")  # type: ignore[arg-type]


async def test_a_follower_a_few_entries_behind_keeps_up_one_far_behind_offline_or_unheard_does_not() -> None:
    info = _info(
        PeerInfo(name="dc2", current=False, offline=False, lag=2, active=SECOND),  # the entry just written
        PeerInfo(name="dc3", current=False, offline=False, lag=CAUGHT_UP_LAG + 1, active=SECOND),
    )
    placed = await _placed(info)
    assert placed.keeping_up == {"dc1", "dc2"}
    assert placed.current == {"dc1"}, "current means what nats-server says"
    info = _info(
        PeerInfo(name="dc2", current=True, offline=True, lag=0, active=SECOND),
        PeerInfo(name="dc3", current=False, offline=False, lag=None, active=SECOND),
    )
    placed = await _placed(info)
    assert placed.keeping_up == placed.current == {"dc1"}
    # Stuck in this stream's group: a small lag, but not heard from for longer than nats-server
    # allows a peer it hands leadership to.
    info = _info(
        PeerInfo(name="dc2", current=False, offline=False, lag=5, active=int((HEARD_WITHIN_S + 1) * SECOND))
    )
    assert (await _placed(info)).keeping_up == {"dc1"}
