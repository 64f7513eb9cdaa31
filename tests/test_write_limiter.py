"""The write limiter's arithmetic, on a fake clock (no cluster): token buckets per user and kind,
charged by this gateway's admissions and by every DC's applied writes, never twice."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from firebreak.config_file import load_config
from firebreak.domain import events as ev
from firebreak.errors import ConfigError, RateLimited
from firebreak.limits import Limits
from firebreak.service.ratelimit import Allowance, Kind, WriteLimiter, allowances, write_of

#: Wall-clock seconds at the fake clock's zero (events carry wall-clock milliseconds).
EPOCH = 1_800_000_000.0
_ids = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def mono(self) -> float:
        return self.t

    def wall(self) -> float:
        return EPOCH + self.t


def limiter(clock: Clock, rate: float = 10.0, burst: int = 5, in_flight: int = 100) -> WriteLimiter:
    rules: dict[Kind, Allowance] = {"send": Allowance(rate, burst, "x"), "read": Allowance(rate, burst, "x")}
    return WriteLimiter(rules, in_flight, clock=clock.mono, wall=clock.wall)


def sent(clock: Clock, sender: str = "u1", age_s: float = 0.0) -> ev.MessageSent:
    at = int((clock.wall() - age_s) * 1000)
    return ev.MessageSent(v=1, at=at, room_id="g_1", sender=sender, client_id=f"c{next(_ids)}", text="hi")


def admit(lim: WriteLimiter, *events: ev.Event) -> bool:
    """Admits and ends the request at once without the events being applied (a refund): returns
    whether it was admitted. Use :func:`write` for a write that lands."""
    try:
        with lim.admit(*events):
            return True
    except RateLimited:
        return False


def write(lim: WriteLimiter, *events: ev.Event) -> bool:
    """A write that lands: admitted, applied here (observed) inside its request."""
    try:
        with lim.admit(*events):
            lim.observe(list(events))
            return True
    except RateLimited:
        return False


def test_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    lim = limiter(clock, rate=10.0, burst=5)
    assert [write(lim, sent(clock)) for _ in range(6)] == [True] * 5 + [False]
    with pytest.raises(RateLimited) as refused:
        lim.admit(sent(clock))
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    assert refused.value.headers() == {"retry-after": "1"}
    clock.t += 0.1  # one token back at 10/s
    assert write(lim, sent(clock)) and not write(lim, sent(clock))
    clock.t += 10  # full again, and no more than full
    assert [write(lim, sent(clock)) for _ in range(6)] == [True] * 5 + [False]


def test_retry_after_says_when_the_next_write_fits() -> None:
    clock = Clock()
    lim = limiter(clock, rate=1 / 6, burst=2)  # 10 per minute
    assert write(lim, sent(clock)) and write(lim, sent(clock))
    with pytest.raises(RateLimited) as refused:
        lim.admit(sent(clock))
    assert refused.value.retry_after_s == 6
    clock.t += 5.9
    assert not write(lim, sent(clock))
    clock.t += 0.2
    assert write(lim, sent(clock))


def test_own_writes_are_not_charged_again_when_applied() -> None:
    clock = Clock()
    lim = limiter(clock, burst=5)
    held = [sent(clock) for _ in range(3)]
    for e in held:
        assert write(lim, e)
    assert [write(lim, sent(clock)) for _ in range(3)] == [True, True, False]


def test_applied_later_than_the_request_is_charged_once() -> None:
    clock = Clock()
    lim = limiter(clock, burst=5)
    late = sent(clock)
    assert admit(lim, late)  # the request ended (a timeout) before this DC applied it: refunded ...
    lim.observe([late])  # ... and charged when it is applied
    assert [write(lim, sent(clock)) for _ in range(5)] == [True] * 4 + [False]


def test_a_write_that_never_lands_costs_nothing() -> None:
    clock = Clock()
    lim = limiter(clock, burst=3)
    for _ in range(10):  # e.g. every append failed during an election
        assert admit(lim, sent(clock))
    assert [write(lim, sent(clock)) for _ in range(4)] == [True] * 3 + [False]


def test_other_dcs_writes_charge_the_same_bucket() -> None:
    clock = Clock()
    lim = limiter(clock, burst=5)
    lim.observe([sent(clock) for _ in range(4)])  # accepted elsewhere, applied here
    assert [write(lim, sent(clock)) for _ in range(2)] == [True, False]
    # Another user's, and another kind's, buckets are their own.
    assert write(lim, sent(clock, sender="u2"))
    read = ev.ReadUpTo(v=1, at=int(clock.wall() * 1000), room_id="g_1", user_id="u1", room_seq=3)
    assert write(lim, read)


def test_old_writes_do_not_count() -> None:
    """A restarted gateway applies the whole log: only writes recent enough to matter count."""
    clock = Clock()
    lim = limiter(clock, rate=10.0, burst=5)
    lim.observe([sent(clock, age_s=0.6) for _ in range(1000)])  # older than the bucket's depth
    assert [write(lim, sent(clock)) for _ in range(6)] == [True] * 5 + [False]
    clock.t += 10
    lim.observe([sent(clock, age_s=0.2) for _ in range(5)])  # recent: 2 tokens back since
    assert [write(lim, sent(clock)) for _ in range(3)] == [True, True, False]


def test_writes_in_flight_are_capped_but_a_lone_batch_goes() -> None:
    clock = Clock()
    lim = limiter(clock, burst=100, in_flight=3)
    with lim.admit(sent(clock)), lim.admit(sent(clock), sent(clock)):
        with pytest.raises(RateLimited) as refused:
            lim.admit(sent(clock))
        assert refused.value.retry_after_s == 1
        assert write(lim, sent(clock, sender="u2"))
    assert write(lim, *[sent(clock) for _ in range(10)])  # nothing else in flight: a batch may go


def test_three_dcs_hold_a_user_to_one_allowance() -> None:
    """Three gateways, each applying every write: a user sending through all three, one write at
    a time at each, gets the cluster-wide allowance plus what is in flight elsewhere."""
    clock = Clock()
    rate, burst, in_flight = 20.0, 60, 10
    dcs = [limiter(clock, rate=rate, burst=burst, in_flight=in_flight) for _ in range(3)]
    accepted = 0
    for step in range(2000):  # 2 s of sends every millisecond, round-robin over the DCs
        clock.t += 0.001
        dc = dcs[step % 3]
        e = sent(clock)
        if write(dc, e):
            accepted += 1
            for other in dcs:
                if other is not dc:
                    other.observe([e])
    assert accepted <= burst + rate * 2.0 + 1
    assert accepted >= burst + rate * 2.0 - 2


def test_simultaneous_bursts_at_three_dcs_exceed_by_what_is_in_flight() -> None:
    """The worst case: every DC admits before it sees any other DC's writes. Each has at most
    ``in_flight`` writes of the user admitted and not yet applied, so the excess over the burst is
    at most that much per other DC; and it is owed everywhere, paid back from the next tokens."""
    clock = Clock()
    rate, burst, in_flight = 20.0, 60, 7
    dcs = [limiter(clock, rate=rate, burst=burst, in_flight=in_flight) for _ in range(3)]
    total = 0
    while True:  # rounds: each DC admits what it can, then everything lands everywhere
        admitted = []
        for dc in dcs:
            for _ in range(100):
                e = sent(clock)
                try:
                    admitted.append((dc, e, dc.admit(e)))
                except RateLimited:
                    break
        if not admitted:
            break
        total += len(admitted)
        for _, e, admission in admitted:
            for each in dcs:
                each.observe([e])
            admission.__exit__(None, None, None)
    assert burst < total <= burst + 2 * in_flight
    for _ in range(5000):  # then 5 s of sends at one DC, as fast as it lets them through
        clock.t += 0.001
        total += write(dcs[0], sent(clock))
    assert total <= burst + rate * 5.0 + 1, "the excess is paid back"


def test_which_writes_count_as_what() -> None:
    at = 1
    assert write_of(sent(Clock(), sender="a")) == ("a", "send")
    assert write_of(ev.ReadUpTo(v=1, at=at, room_id="g", user_id="a", room_seq=1)) == ("a", "read")
    room_changes: list[ev.Event] = [
        ev.RoomCreated(v=1, at=at, room_id="d", kind="direct", name="", creator="a", members=("b",)),
        ev.MembersInvited(v=1, at=at, room_id="g", by="a", user_ids=("b",)),
        ev.MemberLeft(v=1, at=at, room_id="g", user_id="a"),
        ev.RoomRenamed(v=1, at=at, room_id="g", by="a", name="n"),
    ]
    assert {write_of(e) for e in room_changes} == {("a", "room")}
    assert write_of(ev.DisplayNameChanged(v=1, at=at, user_id="a", display_name="A")) == ("a", "profile")
    assert write_of(ev.SessionRevoked(v=1, at=at, user_id="a", session_id="s")) is None


def test_the_configured_allowances() -> None:
    rules = allowances(Limits())
    assert rules["send"][:2] == (50.0, 100) and rules["read"][:2] == (5.0, 30)
    assert rules["room"][:2] == (10 / 60, 20) and rules["profile"][:2] == (10 / 60, 20)


@pytest.mark.parametrize("line", ["send_rate_per_s = 0", "room_change_burst = 0", "max_ws_per_user = 0"])
def test_a_limit_that_lets_nothing_through_is_refused(tmp_path: Path, line: str) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(f"[limits]\n{line}\n")
    with pytest.raises(ConfigError, match=line.split()[0]):
        load_config(path)


def test_sends_have_their_own_cap_on_writes_in_flight() -> None:
    """Sends may fill a socket's pipeline (``sends_in_flight``); other kinds keep ``writes_in_flight``."""
    limits = Limits(sends_in_flight=5, writes_in_flight=2, send_burst=100, read_burst=100)
    lim = WriteLimiter.from_limits(limits)
    sends = [lim.admit(ev.MessageSent(v=1, at=0, room_id="g_r", sender="u_a", client_id=f"c{i}", text="x"))
             for i in range(5)]  # fmt: skip
    with pytest.raises(RateLimited, match="at most 5"):
        lim.admit(ev.MessageSent(v=1, at=0, room_id="g_r", sender="u_a", client_id="c5", text="x"))
    reads = [lim.admit(ev.ReadUpTo(v=1, at=0, room_id="g_r", user_id="u_a", room_seq=i)) for i in range(1, 3)]
    with pytest.raises(RateLimited, match="at most 2"):
        lim.admit(ev.ReadUpTo(v=1, at=0, room_id="g_r", user_id="u_a", room_seq=3))
    assert len(sends) == 5 and len(reads) == 2
