"""service/presence.py without a network: notes go out on attach and detach, typing reaches the
room's other members only, presence frames reach only those who share a room, and a socket that
cannot take a frame at once still gets its frames, in order, up to a bound."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from collections.abc import Callable, Container, Sequence
from pathlib import Path
from typing import Any

import pytest

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_presence import PresenceQueries
from firebreak.domain.presence import LIST, OFF, ON, PULSE, PresenceAsk, PresenceNote, TypingNote
from firebreak.errors import NotFound
from firebreak.limits import Limits
from firebreak.service.presence import TICKS_PER_BEAT, Presence
from firebreak.service.socket_sink import SINK_PENDING_MAX, SocketSink
from tests.helpers import eventually

ROOMS = {"d_ab": ["alice", "bob"], "g_abc": ["alice", "bob", "carol"], "d_de": ["dave", "erin"]}


class FakeLink:
    """Core NATS on one machine: every note goes straight back to the one subscriber."""

    def __init__(self) -> None:
        self.sent: list[TypingNote | PresenceNote | PresenceAsk] = []
        self._typing: Callable[[TypingNote], None] | None = None
        self._presence: Callable[[PresenceNote | PresenceAsk], None] | None = None

    async def publish(self, note: TypingNote | PresenceNote | PresenceAsk) -> None:
        self.sent.append(note)
        if isinstance(note, TypingNote):
            if self._typing is not None:
                self._typing(note)
        elif self._presence is not None:
            self._presence(note)

    def hear(self, note: PresenceNote | PresenceAsk) -> None:
        """A note from another process."""
        assert self._presence is not None
        self._presence(note)

    async def subscribe(
        self,
        on_typing: Callable[[TypingNote], None],
        on_presence: Callable[[PresenceNote | PresenceAsk], None],
    ) -> None:
        self._typing, self._presence = on_typing, on_presence


class FakeRooms:
    async def member_room(self, room_id: str, user_id: str) -> object:
        if user_id not in ROOMS.get(room_id, []):
            raise NotFound("no such room", code="unknown_room")
        return room_id


class FakePeople:
    def members(self, room_id: str) -> list[str]:
        return ROOMS.get(room_id, [])

    def watchers(self, users: Sequence[str], among: Container[str]) -> dict[str, set[str]]:
        found = {}
        for user in users:
            shared = {m for ms in ROOMS.values() if user in ms for m in ms if m != user and m in among}
            if shared:
                found[user] = shared
        return found


class Socket:
    """A socket's frames; ``takes_now`` says whether it takes a frame at once."""

    def __init__(self, takes_now: bool = True) -> None:
        self.frames: list[dict[str, Any]] = []
        self.takes_now = takes_now
        self.gate = asyncio.Event()
        self.gate.set()

    def now(self, frame: bytes) -> bool:
        if self.takes_now:
            self.frames.append(json.loads(frame))
        return self.takes_now

    async def write(self, frame: bytes) -> None:
        await self.gate.wait()
        self.frames.append(json.loads(frame))


async def started(
    limits: Limits | None = None,
    label: str = "dc1",
    people: FakePeople | None = None,
    clock: Callable[[], int] = lambda: 1_000_000,
) -> tuple[Presence, FakeLink, asyncio.Task[None]]:
    link = FakeLink()
    presence = Presence(
        link, FakeRooms(), people or FakePeople(), limits or Limits(), label, clock=clock, wall=clock, run=7
    )
    task = asyncio.create_task(presence.run())
    await eventually(lambda: _true(link._presence is not None), within_s=5, what="subscribed")
    return presence, link, task


async def _true(value: bool) -> bool:
    return value


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_first_socket_says_on_and_last_one_says_off() -> None:
    presence, link, task = await started()
    try:
        first = presence.attach("alice", Socket().write, None)
        second = presence.attach("alice", Socket().write, None)
        await eventually(lambda: _true(PresenceNote("dc1", ON, ("alice",), 7, 1) in link.sent), what="on")
        first()
        second()
        await eventually(lambda: _true(PresenceNote("dc1", OFF, ("alice",), 7, 2) in link.sent), what="off")
        kinds = [n.kind for n in _changes(link)]
        assert kinds == [ON, OFF], "one on for the first socket, one off for the last"
        assert not presence.board.online("alice", 1_000_000)
    finally:
        await stopped(task)


async def test_sockets_opening_together_are_told_in_one_note_and_only_the_latest_change_counts() -> None:
    """Within ``NOTE_DELAY_S``, users coming online go out as one ``on`` note; a user who came and
    went in that time is told only as gone (an ``off`` for a user nobody heard of changes nothing)."""
    presence, link, task = await started()
    try:
        for name in ("alice", "bob", "carol"):
            presence.attach(name, Socket().write, None)
        presence.attach("dave", Socket().write, None)()
        await eventually(lambda: _true(any(n.kind == ON for n in _changes(link))), what="on")
        await eventually(lambda: _true(any(n.kind == OFF for n in _changes(link))), what="off")
        assert [(n.kind, set(n.users)) for n in _changes(link)] == [
            (OFF, {"dave"}),
            (ON, {"alice", "bob", "carol"}),
        ]
        assert presence.board.online("carol", 1_000_000) and not presence.board.online("dave", 1_000_000)
    finally:
        await stopped(task)


def _changes(link: FakeLink) -> list[PresenceNote]:
    return [n for n in link.sent if isinstance(n, PresenceNote) and n.kind in (ON, OFF)]


async def test_a_stopping_gateway_tells_at_once_what_waits_to_be_told() -> None:
    """Shutdown ends the sockets, then stops presence: their ``off`` goes out before the end,
    not after a delay whose timer would never run."""
    presence, link, task = await started()
    detach = presence.attach("alice", Socket().write, None)
    await eventually(lambda: _true(any(n.kind == ON for n in _changes(link))), what="on")
    detach()
    await stopped(task)
    assert [(n.kind, n.users) for n in _changes(link)] == [(ON, ("alice",)), (OFF, ("alice",))]


async def test_typing_goes_to_the_other_members_only_and_strangers_get_404() -> None:
    presence, _, task = await started()
    sockets = {name: Socket() for name in ("alice", "bob", "carol", "dave")}
    try:
        for name, sock in sockets.items():
            presence.attach(name, sock.write, sock.now)
        with pytest.raises(NotFound):
            await presence.typing("dave", "d_ab", True)
        await presence.typing("alice", "d_ab", True)
        typing = {n: [f for f in s.frames if f["kind"] == "typing"] for n, s in sockets.items()}
        assert [f["typing"]["user_id"] for f in typing["bob"]] == ["alice"]
        assert typing["alice"] == [] and typing["carol"] == [] and typing["dave"] == []
        assert typing["bob"][0]["typing"] == {
            "room_id": "d_ab",
            "user_id": "alice",
            "typing": True,
            "until": 1_000_000 + 5000,
            "ttl_ms": 5000,
        }
    finally:
        await stopped(task)


async def test_presence_frames_reach_only_people_who_share_a_room() -> None:
    presence, _, task = await started()
    sockets = {name: Socket() for name in ("bob", "carol", "dave")}
    try:
        for name, sock in sockets.items():
            presence.attach(name, sock.write, sock.now)
        alice = presence.attach("alice", Socket().write, None)

        async def told(name: str, online: bool) -> bool:
            return any(
                p == {"user_id": "alice", "online": online, "last_seen": None if online else 1_000_000}
                for f in sockets[name].frames
                if f["kind"] == "presence"
                for p in f["presence"]
            )

        await eventually(lambda: told("bob", True), within_s=5, what="bob told")
        await eventually(lambda: told("carol", True), within_s=5, what="carol told")
        alice()
        await eventually(lambda: told("bob", False), within_s=5, what="bob told of the off")
        assert not [f for f in sockets["dave"].frames if f["kind"] == "presence" and "alice" in str(f)], (
            "dave shares no room with alice"
        )
    finally:
        await stopped(task)


async def test_a_socket_that_cannot_take_frames_now_gets_them_later_in_order_up_to_a_bound() -> None:
    sock = Socket(takes_now=False)
    sock.gate.clear()
    sink = SocketSink(sock.write, sock.now)
    for i in range(SINK_PENDING_MAX + 5):
        sink(json.dumps({"kind": "typing", "n": i}).encode())
    sock.takes_now = True  # even so: frames keep their order behind the ones waiting
    sink(json.dumps({"kind": "typing", "n": -1}).encode())
    sock.gate.set()

    async def written() -> bool:
        return len(sock.frames) == SINK_PENDING_MAX

    await eventually(written, within_s=5, what="the waiting frames written")
    assert [f["n"] for f in sock.frames] == list(range(SINK_PENDING_MAX)), "in order; the rest dropped"
    sink(json.dumps({"kind": "typing", "n": 99}).encode())
    assert sock.frames[-1]["n"] == 99, "once nothing waits, frames go out at once again"
    sink.close()


def test_presence_changes_reach_co_members_of_small_rooms_only(tmp_path: Path) -> None:
    """The read model's watchers: a room above ``presence_push_max_members`` makes none (its
    members ask GET .../presence), a direct room and a small group do, a left room does not."""
    conn = sqlite_store.connect(tmp_path / "rm.sqlite3")
    rows = [("d_1", "u_a", 1), ("d_1", "u_b", 1), ("g_small", "u_a", 1), ("g_small", "u_c", 1)]
    rows += [("g_left", "u_a", 1), ("g_left", "u_e", 0)]
    rows += [("g_big", f"u_{i:03}", 1) for i in range(6)] + [("g_big", "u_a", 1)]
    conn.executemany(
        "INSERT INTO members(room_id, user_id, active, joined_seq, read_room_seq) VALUES(?,?,?,1,0)", rows
    )
    everyone = {"u_b", "u_c", "u_e", *(f"u_{i:03}" for i in range(6))}
    assert PresenceQueries(conn, push_max_members=5).watchers(["u_a"], everyone) == {"u_a": {"u_b", "u_c"}}
    assert PresenceQueries(conn, push_max_members=7).watchers(["u_a"], everyone) == {
        "u_a": everyone - {"u_e"}
    }
    # Many users in one query, each with their own watchers; one with none is left out.
    assert PresenceQueries(conn, push_max_members=5).watchers(
        ["u_a", "u_b", "u_e", "u_a"], everyone | {"u_a"}
    ) == {
        "u_a": {"u_b", "u_c"},
        "u_b": {"u_a"},
    }


async def quick() -> tuple[Presence, FakeLink, asyncio.Task[None]]:
    """A process beating every 0.2 s, so that its ticks come within a test's patience."""
    return await started(QUICK, "dc1#2")


QUICK = dataclasses.replace(Limits(), presence_beat_s=0.2, presence_expiry_s=1.0)


async def _more_than(link: FakeLink, told: int) -> bool:
    return len(_changes(link)) > told


def _kinds(link: FakeLink, kind: str) -> list[PresenceNote]:
    return [n for n in link.sent if isinstance(n, PresenceNote) and n.kind == kind]


async def test_a_process_pulses_its_last_number_and_lists_its_users_when_asked() -> None:
    presence, link, task = await quick()
    try:
        presence.attach("alice", Socket().write, None)
        presence.attach("bob", Socket().write, None)
        await eventually(lambda: _true(len(_kinds(link, PULSE)) >= 2), what="pulses")
        assert {n.seq for n in _kinds(link, PULSE)[-1:]} == {1}, "one on note (alice and bob) so far"
        lists_before = len(_kinds(link, LIST))
        link.hear(PresenceAsk("dc3", ("dc2", "dc1")))
        assert len(_kinds(link, LIST)) == lists_before, "another process's ask is not for this one"
        asked_at = len(link.sent)
        link.hear(PresenceAsk("dc3", ("dc1#2",)))
        await eventually(lambda: _true(len(_kinds(link, LIST)) > lists_before), what="a list")
        answer = _kinds(link, LIST)[-1]
        between = link.sent[asked_at : link.sent.index(answer)]
        assert not [n for n in between if isinstance(n, PresenceNote) and n.kind == PULSE], (
            "answered at the next tick, not at the next unasked list"
        )
        assert (set(answer.users), answer.seq, answer.part, answer.parts) == ({"alice", "bob"}, 1, 0, 1)
        assert (answer.source, answer.run, answer.to) == ("dc1#2", 7, "dc3"), "to the asker alone"
        lists_before = len(_kinds(link, LIST))
        for asker in ("dc2", "dc3", "dc1"):
            link.hear(PresenceAsk(asker, ("dc1#2",)))
        await eventually(lambda: _true(len(_kinds(link, LIST)) > lists_before), what="a list")
        await eventually(lambda: _true(len(_kinds(link, PULSE)) >= 4), what="more pulses")
        answers = _kinds(link, LIST)[lists_before:]
        assert {a.to for a in answers} == {""}, "three asking in one tick: one list for all"
    finally:
        await stopped(task)


async def test_an_answer_to_one_asker_does_not_replace_the_pulse_for_the_others() -> None:
    presence, link, task = await quick()
    try:
        presence.attach("alice", Socket().write, None)
        for _ in range(12):  # asked at every tick: some answers fall on a beat's tick
            link.hear(PresenceAsk("dc3", ("dc1#2",)))
            told = len(link.sent)
            await eventually(functools.partial(_sent_more, link, told), what="a tick")
        notes = [n for n in link.sent if isinstance(n, PresenceNote)]
        to_all = [n for n in notes if n.kind == PULSE or (n.kind == LIST and not n.to)]
        beats = 12 // TICKS_PER_BEAT
        assert len(to_all) >= beats, "every beat reaches every process"
    finally:
        await stopped(task)


async def _sent_more(link: FakeLink, told: int) -> bool:
    return any(isinstance(n, PresenceNote) and n.kind == LIST for n in link.sent[told:])


async def test_notes_leave_numbered_in_order() -> None:
    presence, link, task = await quick()
    try:
        for name in ("alice", "bob", "carol", "dave"):
            told = len(_changes(link))
            detach = presence.attach(name, Socket().write, None)
            await eventually(functools.partial(_more_than, link, told), what=name)
            detach()
        await eventually(lambda: _true(len(_changes(link)) == 8), what="four ons and four offs")
        numbered = [n.seq for n in link.sent if isinstance(n, PresenceNote) and n.kind in (ON, OFF)]
        assert numbered == list(range(1, 9))
        # Every pulse or list says the number of the last on/off sent before it.
        last = 0
        for n in link.sent:
            if isinstance(n, PresenceNote):
                if n.kind in (ON, OFF):
                    last = n.seq
                else:
                    assert n.seq == last, n
    finally:
        await stopped(task)


async def test_a_process_asks_for_the_list_of_a_source_it_cannot_follow() -> None:
    presence, link, task = await quick()
    try:
        link.hear(PresenceNote("dc2", PULSE, (), 3, 12))
        await eventually(lambda: _true(PresenceAsk("dc1#2", ("dc2",)) in link.sent), what="an ask")
        assert not presence.board.online("erin", 1_000_000)
        link.hear(PresenceNote("dc2", LIST, ("erin",), 3, 12))
        assert presence.board.online("erin", 1_000_000)
    finally:
        await stopped(task)


class FailingOnce(FakePeople):
    """Fails the second watchers query (the first is for a note heard, the second the tick's)."""

    def __init__(self) -> None:
        self.calls = 0
        self.failed = False

    def watchers(self, users: Sequence[str], among: Container[str]) -> dict[str, set[str]]:
        self.calls += 1
        if self.calls == 2:
            self.failed = True
            raise RuntimeError("a read model error")
        return super().watchers(users, among)


async def test_a_failed_tick_does_not_silence_the_process() -> None:
    now = [1_000_000]
    people = FailingOnce()
    presence, link, task = await started(QUICK, people=people, clock=lambda: now[0])
    try:
        presence.attach("bob", Socket().write, None)
        link.hear(PresenceNote("dc2", LIST, ("alice",), 3, 0))
        now[0] += 10_000  # dc2 falls silent: the tick's expiry tells bob, and that fails once
        await eventually(lambda: _true(people.failed), what="the failing tick")
        pulses = len(_kinds(link, PULSE))
        await eventually(lambda: _true(len(_kinds(link, PULSE)) > pulses + 1), what="pulses after it")
    finally:
        await stopped(task)
