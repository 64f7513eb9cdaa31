"""The rules that keep leaders off a DC with slow links (no I/O): how far each DC is from its
nearest peer (adapters/route_rtt.py), which DCs are too far to lead (domain/placement.py), and
the leader balancer acting on it (service/balancer.py) with an in-memory board and leaders."""

from __future__ import annotations

from firebreak.adapters.leadership import Leadership, StreamPlacement
from firebreak.adapters.ops_board import DCHeartbeat
from firebreak.adapters.route_rtt import duration_ms, nearest_peer_ms, steady
from firebreak.domain.placement import moves, too_far
from firebreak.service.balancer import Balancer
from tests.helpers import HeldBoard


def test_go_durations_read_as_milliseconds() -> None:
    assert duration_ms("1.5ms") == 1.5
    assert duration_ms("250µs") == 0.25
    assert duration_ms("2s") == 2000.0
    assert duration_ms("1m2.5s") == 62_500.0
    assert duration_ms("soon") is None
    assert duration_ms("") is None


def test_the_nearest_peer_is_the_median_of_its_routes_then_the_closest() -> None:
    routez = {
        "routes": [
            {"remote_name": "dc2", "rtt": "11ms"},
            {"remote_name": "dc2", "rtt": "10ms"},
            {"remote_name": "dc2", "rtt": "900ms"},  # one pooled route mid-retransmission
            {"remote_name": "dc3", "rtt": "200ms"},
            {"remote_name": "dc3", "rtt": "bad"},
        ]
    }
    assert nearest_peer_ms(routez) == 11.0
    assert nearest_peer_ms({"routes": None}) is None


def test_one_slow_sample_is_not_a_slow_link() -> None:
    assert steady([]) is None
    assert steady([1.0]) is None
    assert steady([1.0, 250.0]) == 1.0  # one slow pong
    assert steady([250.0, 1.0]) == 1.0  # recovered: at once
    assert steady([1.0, 240.0, 250.0]) == 240.0  # slow twice in a row
    assert steady([240.0, None]) is None


def test_a_dc_far_from_every_peer_leads_nothing() -> None:
    # dc3's links are 100 ms one way: dc3 is 200 ms from its nearest peer, dc1 and dc2 are near.
    far = too_far({"dc1": 1.0, "dc2": 1.2, "dc3": 201.0})
    assert far == {"dc3"}
    eligible = [dc for dc in ("dc1", "dc2", "dc3") if dc not in far]
    planned = moves({"ROOMS_0": "dc3", "ROOMS_1": "dc1", "ACCOUNTS": "dc3"}, eligible)
    assert {target for _, target in planned} <= {"dc1", "dc2"}
    assert {stream for stream, _ in planned} == {"ROOMS_0", "ACCOUNTS"}


def test_evenly_distant_or_unknown_dcs_all_may_lead() -> None:
    assert too_far({"dc1": 35.0, "dc2": 35.0, "dc3": 70.0}) == set()  # Seoul-Tokyo sized links
    assert too_far({"dc1": 0.4, "dc2": 1.5, "dc3": 3.0}) == set()  # loopback noise, factors apart
    assert too_far({"dc1": 1.0, "dc2": None, "dc3": None}) == set()
    assert too_far({"dc1": 1.0, "dc2": None, "dc3": 150.0}) == {"dc3"}


class _Leaders(Leadership):
    """Streams whose replicas are current, except that a stream led from a DC in ``far`` reaches
    its followers late, so they look behind (as a slow link's leader makes them)."""

    def __init__(self, leaders: dict[str, str]) -> None:
        self.leaders = leaders
        self.far: set[str] = set()

    async def placement(self, stream: str) -> StreamPlacement:
        leader = self.leaders[stream]
        if leader in self.far:
            return StreamPlacement(leader, frozenset({leader}), frozenset({leader}))
        everywhere = frozenset({"dc1", "dc2", "dc3"})
        return StreamPlacement(leader, everywhere, everywhere)

    async def step_down(self, stream: str, preferred: str) -> None:
        self.leaders[stream] = preferred


async def test_the_balancer_moves_leaders_off_a_far_dc_and_back_after() -> None:
    near = DCHeartbeat(ready=True, draining=False, nearest_peer_ms=1.0)
    beats = {"dc1": near, "dc2": near, "dc3": near}
    leaders = _Leaders({"ROOMS_0": "dc1", "ROOMS_1": "dc2", "ROOMS_2": "dc3"})
    balancer = Balancer(
        HeldBoard(beats), leaders, dc="dc1", dcs=["dc1", "dc2", "dc3"], streams=list(leaders.leaders),
        heartbeat=lambda: near,
    )  # fmt: skip
    for _ in range(2):
        assert await balancer.round() == []  # balanced
    beats["dc3"] = DCHeartbeat(ready=True, draining=False, nearest_peer_ms=201.0)
    leaders.far = {"dc3"}
    assert await balancer.round() == [("ROOMS_2", "dc1")]
    leaders.far = set()
    assert "dc3" not in leaders.leaders.values()
    beats["dc3"] = near  # restored: it leads again once fit for two rounds
    await balancer.round()
    assert await balancer.round() != []
    assert "dc3" in leaders.leaders.values()
