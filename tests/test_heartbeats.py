"""The gateway's heartbeat timers (entrypoints/gateway/heartbeats.py): every registered socket
is beaten once per interval (its own, if its client asked for a longer one), a removed one no
more, and one failing write does not stop the rest; what a client may ask for."""

from __future__ import annotations

import itertools
import time

import pytest
from starlette.types import Message

from firebreak.entrypoints.gateway.heartbeats import Heartbeats
from firebreak.entrypoints.gateway.live_socket import SocketHeartbeat
from firebreak.errors import BadRequest
from firebreak.wire.frames import HEARTBEAT_FRAME
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


async def test_each_socket_is_beaten_at_its_own_interval() -> None:
    heartbeats = Heartbeats(INTERVAL_S, slots=2, longest_s=10)
    often, rarely = _Socket(), _Socket()
    heartbeats.add(often)
    heartbeats.add(rarely, 3 * INTERVAL_S)
    assert heartbeats.count == 2
    await eventually(lambda: _count([rarely], 2), within_s=10, what="two rare beats")
    gaps = [b - a for a, b in itertools.pairwise(rarely.beats)]
    assert all(gap >= 3 * INTERVAL_S - 0.05 for gap in gaps), gaps
    assert len(often.beats) >= 3, "the default interval's sockets are beaten meanwhile"


@pytest.mark.parametrize(
    ("asked", "taken"),
    [
        (None, 5.0),
        ("5", 5.0),
        ("60", 60.0),
        ("0060", 60.0),
        ("2", 5.0),
        ("0", 5.0),
        ("300", 300.0),
        ("999999", 300.0),
        ("9" * 5000, 300.0),
        ("0000005", 5.0),
    ],
)
def test_an_asked_interval_is_taken_within_bounds(asked: str | None, taken: float) -> None:
    assert Heartbeats(5.0, longest_s=300.0).interval(asked) == taken


@pytest.mark.parametrize("asked", ["1.5", "-30", "+30", "abc", "1e3", "\u0663", "\uff13", " 30"])
def test_an_interval_that_is_not_whole_seconds_is_refused(asked: str) -> None:
    with pytest.raises(BadRequest) as refused:
        Heartbeats(5.0, longest_s=300.0).interval(asked)
    assert refused.value.code == "invalid_heartbeat" and refused.value.status == 400


async def test_an_intervals_timer_stops_with_its_last_socket_and_starts_again() -> None:
    heartbeats = Heartbeats(INTERVAL_S, slots=1, longest_s=10)
    often, first, later = _Socket(), _Socket(), _Socket()
    heartbeats.add(often)
    remove = heartbeats.add(first, 2 * INTERVAL_S)
    await eventually(lambda: _count([first], 1), within_s=10, what="a rare beat")
    remove()
    # Three default beats (0.9 s) outlast the rare timer's next tick (0.6 s), which finds its
    # interval empty and stops: the default interval's timer goes on meanwhile.
    target = len(often.beats) + 3
    await eventually(lambda: _count([often], target), within_s=10, what="default beats")
    heartbeats.add(later, 2 * INTERVAL_S)
    await eventually(lambda: _count([later], 2), within_s=10, what="rare beats again")
    assert len(first.beats) <= 2, "a removed socket hears no more (one beat may have been due)"


def test_an_interval_that_interval_would_not_give_is_refused() -> None:
    heartbeats = Heartbeats(5.0, longest_s=300.0)
    for wrong in (0.0, 1.0, 301.0):
        with pytest.raises(ValueError):
            heartbeats.add(_Socket(), wrong)


async def test_a_socket_that_refuses_a_direct_write_gets_its_heartbeat_through_asgi() -> None:
    """The heartbeat is what lets the kernel notice a vanished client (liveness.py), so a socket
    off direct writes (or paused) is not skipped: the beat goes out as an ASGI send instead."""
    sent: list[Message] = []
    direct: list[bytes] = []

    async def send(message: Message) -> None:
        sent.append(message)

    def refuses(frame: bytes) -> bool:
        direct.append(frame)
        return False

    def takes(frame: bytes) -> bool:
        direct.append(frame)
        return True

    SocketHeartbeat(send, takes)()
    assert direct == [HEARTBEAT_FRAME.encode()] and not sent
    SocketHeartbeat(send, refuses)()
    await eventually(lambda: _now(bool(sent)), within_s=5, what="the heartbeat through ASGI")
    assert sent == [{"type": "websocket.send", "text": HEARTBEAT_FRAME}]


async def _now(value: bool) -> bool:
    return value
