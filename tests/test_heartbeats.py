"""The gateway's one heartbeat timer (entrypoints/gateway/heartbeats.py): every registered socket
is beaten once per interval, a removed one no more, and one failing write does not stop the rest."""

from __future__ import annotations

import itertools
import time

import pytest

from firebreak.entrypoints.gateway.heartbeats import Heartbeats
from tests.helpers import eventually

INTERVAL_S = 0.3


class _Socket:
    def __init__(self) -> None:
        self.beats: list[float] = []

    def __call__(self) -> None:
        self.beats.append(time.monotonic())


async def _count(sockets: list[_Socket], at_least: int) -> bool:
    return all(len(s.beats) >= at_least for s in sockets)


async def test_every_socket_is_beaten_once_per_interval() -> None:
    heartbeats = Heartbeats(INTERVAL_S, slots=3)
    sockets = [_Socket() for _ in range(7)]
    joined = time.monotonic()
    removers = [heartbeats.add(s) for s in sockets]
    assert heartbeats.count == 7
    await eventually(lambda: _count(sockets, 4), within_s=10, what="four beats each")
    for s in sockets:
        assert s.beats[0] - joined <= INTERVAL_S + 0.15, "the first beat within an interval of joining"
        gaps = [b - a for a, b in zip(s.beats, s.beats[1:], strict=False)]
        # Timers on a busy machine run late, never early.
        assert all(gap >= INTERVAL_S - 0.05 for gap in gaps), gaps
    for remove in removers:
        remove()
    assert heartbeats.count == 0


async def test_a_burst_is_spread_over_the_interval() -> None:
    """Sockets that join together go to different slots, so no one tick writes to all of them."""
    heartbeats = Heartbeats(INTERVAL_S, slots=3)
    sockets = [_Socket() for _ in range(6)]
    for s in sockets:
        heartbeats.add(s)
    await eventually(lambda: _count(sockets, 1), within_s=10, what="a beat each")
    firsts = sorted(s.beats[0] for s in sockets)
    # One tick writes its slot's sockets together; ticks are INTERVAL_S / 3 apart.
    ticks = 1 + sum(b - a > INTERVAL_S / 6 for a, b in itertools.pairwise(firsts))
    assert ticks == 3, f"three slots, two sockets each: {firsts}"


async def test_removing_twice_leaves_a_later_socket_alone() -> None:
    heartbeats = Heartbeats(INTERVAL_S, slots=1)
    first = _Socket()
    remove = heartbeats.add(first)
    remove()
    later = _Socket()
    heartbeats.add(later)
    remove()
    assert heartbeats.count == 1
    await eventually(lambda: _count([later], 2), within_s=10, what="beats for the later socket")


async def test_a_removed_socket_hears_no_more() -> None:
    heartbeats = Heartbeats(INTERVAL_S, slots=2)
    kept, gone = _Socket(), _Socket()
    heartbeats.add(kept)
    remove = heartbeats.add(gone)
    remove()
    await eventually(lambda: _count([kept], 3), within_s=10, what="three beats")
    assert gone.beats == []


async def test_a_failing_beat_does_not_silence_the_others(caplog: pytest.LogCaptureFixture) -> None:
    heartbeats = Heartbeats(INTERVAL_S, slots=1)

    def broken() -> None:
        raise RuntimeError("socket gone wrong")

    heartbeats.add(broken)
    ok = _Socket()
    heartbeats.add(ok)
    await eventually(lambda: _count([ok], 3), within_s=10, what="beats despite a failing one")
    assert "a heartbeat write failed" in caplog.text


async def test_the_timer_starts_again_after_all_sockets_left() -> None:
    heartbeats = Heartbeats(INTERVAL_S)
    first = _Socket()
    heartbeats.add(first)()
    await eventually(lambda: _stopped(heartbeats), within_s=10, what="the timer to stop")
    later = _Socket()
    heartbeats.add(later)
    await eventually(lambda: _count([later], 2), within_s=10, what="beats for a socket that came later")


async def _stopped(heartbeats: Heartbeats) -> bool:
    return not heartbeats.running


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Heartbeats(0)
    with pytest.raises(ValueError):
        Heartbeats(1.0, slots=0)
