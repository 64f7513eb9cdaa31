"""The rules that keep leaders off a DC with slow links (pure): how far each DC is from its
nearest peer (adapters/route_rtt.py) and which DCs are too far to lead (domain/placement.py)."""

from __future__ import annotations

from firebreak.adapters.route_rtt import duration_ms, nearest_peer_ms
from firebreak.domain.placement import moves, too_far


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
