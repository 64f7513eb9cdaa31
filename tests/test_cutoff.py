"""The cut-off watch's rules (service/cutoff.py) on a clock the test moves, and what counts as a
stream in touch (adapters/quorum_probe.py) on stream states as nats-server reports them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import ClusterInfo, PeerInfo, PubAck, StreamConfig, StreamInfo, StreamState

from firebreak.adapters.nats_log import AppendAck, Log
from firebreak.adapters.quorum_probe import in_touch
from firebreak.errors import FirebreakError
from firebreak.service.cutoff import CutOffWatch, Link
from firebreak.service.projector import Projector
from firebreak.service.sync import Freshness
from tests.helpers import eventually


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


@dataclass
class QuietLog:
    """A JetStream that takes publishes and acknowledges only when told (``ack``)."""

    published: list[str] = field(default_factory=list)
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish(self, subject: str, data: bytes, **kw: object) -> PubAck:
        headers = cast(dict[str, str], kw["headers"])
        self.published.append(headers["Nats-Msg-Id"])
        await self.acked.wait()
        return PubAck(stream="ROOMS_0", seq=len(self.published))


def quiet_log(w: CutOffWatch) -> tuple[Log, QuietLog]:
    js = QuietLog()
    return Log(cast(NATS, None), cast(JetStreamContext, js), cut_off=w.signal), js


async def test_a_write_waiting_for_its_ack_is_answered_at_once_when_the_dc_is_cut_off() -> None:
    clock = Clock()
    contact = Contact(clock.now)
    w = watch(contact, [True], clock, [])
    log, js = quiet_log(w)
    write = asyncio.create_task(log.append("rooms.0.r", b"x", "m1"))
    await eventually(lambda: asyncio.sleep(0, js.published), what="the append to be sent")
    assert tick(w, clock, 3.1) is Link.CUT_OFF
    with pytest.raises(FirebreakError) as refused:
        await asyncio.wait_for(write, 1.0)  # not the write deadline (12 s)
    assert (refused.value.status, refused.value.code) == (503, "dc_cut_off")
    assert refused.value.retry_after_s == 3
    # While cut, a new append is answered at once, before it reaches the log.
    with pytest.raises(FirebreakError, match="cut off"):
        await asyncio.wait_for(log.append("rooms.0.r", b"x", "m2"), 1.0)
    assert js.published == ["m1"]
    # In touch again: appends wait for their acknowledgement, which wins.
    contact.last_contact = clock.now
    assert tick(w, clock, 0.1) is Link.IN_TOUCH
    js.acked.set()
    ack = await asyncio.wait_for(log.append("rooms.0.r", b"x", "m3"), 1.0)
    assert ack.seq == 2 and js.published == ["m1", "m3"]


async def test_an_acknowledged_write_is_answered_even_if_the_cut_follows() -> None:
    clock = Clock()
    w = watch(Contact(clock.now), [True], clock, [])
    log, js = quiet_log(w)
    js.acked.set()
    ack = await log.append("rooms.0.r", b"x", "m1")
    assert tick(w, clock, 3.1) is Link.CUT_OFF
    assert ack.seq == 1 and not ack.duplicate


@dataclass
class StillProjector:
    """A read model that has applied ``head`` and applies nothing more."""

    head: dict[str, int]

    async def wait_for(self, stream: str, seq: int) -> None:
        await asyncio.Event().wait()


async def test_an_acknowledged_write_not_yet_applied_here_is_answered_at_once_when_cut_off() -> None:
    clock = Clock()
    w = watch(Contact(clock.now), [True], clock, [])
    log, _ = quiet_log(w)
    fresh = Freshness(
        log, cast(Projector, StillProjector({"ROOMS_0": 5})), ring=lambda s, q: None, cut_off=w.signal
    )
    waiting = asyncio.create_task(fresh.until_applied(AppendAck("ROOMS_0", 6, duplicate=False)))
    assert tick(w, clock, 3.1) is Link.CUT_OFF
    with pytest.raises(FirebreakError, match="cut off"):
        await asyncio.wait_for(waiting, 1.0)
    # What this DC has applied already is answered, cut off or not.
    await asyncio.wait_for(fresh.until_applied(AppendAck("ROOMS_0", 5, duplicate=False)), 1.0)


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
