"""The cut-off watch's rules (service/cutoff.py) on a clock the test moves, and what counts as a
stream in touch (adapters/quorum_probe.py) on stream states as nats-server reports them."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import ClusterInfo, PeerInfo, StreamConfig, StreamInfo, StreamState

from firebreak.adapters.quorum_probe import in_touch
from firebreak.service.cutoff import CutOffWatch, Link


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Contact:
    last_contact: float


def watch(contact: Contact, serving: list[bool], clock: Clock, cuts: list[int]) -> CutOffWatch:
    return CutOffWatch(
        contact,
        active=lambda: serving[0],
        on_cut=lambda: cuts.append(1),
        cut_off_after_s=3.0,
        every_s=0.1,
        clock=clock,
    )


def tick(w: CutOffWatch, clock: Clock, seconds: float) -> Link:
    """Steps every 0.1 s for ``seconds``, as :meth:`CutOffWatch.run` does."""
    for _ in range(round(seconds / 0.1)):
        clock.now += 0.1
        w.step()
    return w.state


def test_no_stream_in_touch_for_long_enough_is_a_cut_and_one_contact_ends_it() -> None:
    clock = Clock()
    cuts: list[int] = []
    contact = Contact(clock.now)
    w = watch(contact, [True], clock, cuts)
    assert tick(w, clock, 2.8) is Link.IN_TOUCH and not w.cut_off
    assert tick(w, clock, 0.3) is Link.CUT_OFF and w.cut_off and cuts == [1]
    assert tick(w, clock, 10) is Link.CUT_OFF and cuts == [1], "the clients are sent away once per cut"
    contact.last_contact = clock.now
    assert tick(w, clock, 0.1) is Link.IN_TOUCH
    assert tick(w, clock, 3.1) is Link.CUT_OFF and cuts == [1, 1] and w.cuts == 2


def test_a_late_step_judges_nothing() -> None:
    clock = Clock()
    cuts: list[int] = []
    w = watch(Contact(clock.now), [True], clock, cuts)
    w.step()
    clock.now += 5  # the event loop was held: the probe's answers may be queued behind the watch
    assert w.step() is Link.IN_TOUCH
    assert tick(w, clock, 0.1) is Link.CUT_OFF


def test_a_dc_that_does_not_serve_yet_is_never_cut_off() -> None:
    serving = [False]
    clock = Clock()
    cuts: list[int] = []
    w = watch(Contact(clock.now), serving, clock, cuts)
    assert tick(w, clock, 10) is Link.IN_TOUCH
    serving[0] = True
    assert tick(w, clock, 0.1) is Link.CUT_OFF


def info(leader: str | None, *replicas: PeerInfo) -> StreamInfo:
    cluster = ClusterInfo(leader=leader, replicas=list(replicas))
    return StreamInfo(config=StreamConfig(name="S"), state=StreamState(0, 0, 0, 0, 0), cluster=cluster)


def test_a_stream_is_in_touch_when_its_leader_has_a_quorum() -> None:
    fresh, stale = int(0.3e9), int(12e9)
    assert in_touch(info("dc1", PeerInfo("dc3", current=True, active=fresh)), "dc3")
    assert in_touch(info("dc3", PeerInfo("dc1", current=True, active=fresh)), "dc3")
    # This DC's node still says it leads, but has heard from no follower: cut off.
    assert not in_touch(info("dc3", PeerInfo("dc1", active=stale), PeerInfo("dc2", active=stale)), "dc3")
    assert not in_touch(info("dc3", PeerInfo("dc1", active=fresh, offline=True)), "dc3")
    assert not in_touch(info(None, PeerInfo("dc1", active=fresh)), "dc3")
