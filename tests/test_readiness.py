"""A DC answers only once its read model has caught up with the log as its leaders saw it at start."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import ClusterInfo, PeerInfo, StreamConfig, StreamInfo, StreamState

from firebreak.adapters import sqlite_store
from firebreak.adapters.nats_log import Log
from firebreak.adapters.replica_reader import Entry
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.domain import events as ev
from firebreak.domain.ids import ACCOUNTS_STREAM, room_stream
from firebreak.retry import Backoff
from firebreak.service.projector import Projector
from firebreak.service.readiness import Readiness

ROOMS = room_stream(0)
#: Where each stream ended at its leader when the gateway started.
TARGETS = {ACCOUNTS_STREAM: 2, ROOMS: 3}


@dataclass
class _Reader:
    """A stream's reader as readiness sees it (service/readiness.py's ReaderProgress)."""

    stream: str
    reached_end: bool = False


def _entries(stream: str, first: int, last: int) -> list[Entry]:
    """Log entries ``first``..``last`` of ``stream``: registrations, or a room and its messages."""
    out: list[Entry] = []
    for seq in range(first, last + 1):
        event: ev.Event
        if stream == ACCOUNTS_STREAM:
            event = ev.UserRegistered(
                v=1,
                at=seq,
                user_id=f"u{seq}",
                username=f"user{seq}",
                password_hash="h",
                display_name="n",
                request_id=f"r{seq}",
            )
        elif seq == 1:
            event = ev.RoomCreated(v=1, at=seq, room_id="g", kind="group", name="n", creator="u1", members=())
        else:
            event = ev.MessageSent(v=1, at=seq, room_id="g", sender="u1", client_id=f"m{seq}", text="hi")
        out.append((stream, seq, ev.encode(event)))
    return out


def _readiness() -> tuple[Projector, list[_Reader], Readiness]:
    projector = Projector(SqliteStore(sqlite_store.connect(":memory:")), 1, lambda applied: None)
    readers = [_Reader(ACCOUNTS_STREAM), _Reader(ROOMS)]
    return projector, readers, Readiness(projector, readers)


async def _leaders_said(stream: str) -> int:
    return TARGETS[stream]


@pytest.mark.parametrize("last", [ACCOUNTS_STREAM, ROOMS])
async def test_serves_only_once_every_stream_is_applied_up_to_its_leaders_target(last: str) -> None:
    projector, readers, readiness = _readiness()
    for reader in readers:
        reader.reached_end = True
    assert not readiness.caught_up(), "no leader has said where its stream ends yet"
    await readiness.learn_targets(_leaders_said)
    assert not readiness.caught_up()
    first = ROOMS if last == ACCOUNTS_STREAM else ACCOUNTS_STREAM
    projector.apply_batch(_entries(first, 1, TARGETS[first]))
    projector.apply_batch(_entries(last, 1, TARGETS[last] - 1))
    assert not readiness.caught_up(), f"{last} is one entry short of its target"
    assert "applied 4 of 5 log entries" in readiness.progress()
    projector.apply_batch(_entries(last, TARGETS[last], TARGETS[last]))
    assert readiness.caught_up()
    assert "applied 5 of 5 log entries" in readiness.progress()


@pytest.mark.parametrize("last", [0, 1])
async def test_serves_only_once_every_reader_has_read_its_local_replica_to_the_end(last: int) -> None:
    projector, readers, readiness = _readiness()
    await readiness.learn_targets(_leaders_said)
    for stream, seq in TARGETS.items():
        projector.apply_batch(_entries(stream, 1, seq))
    assert not readiness.caught_up(), "the local replica has not been read to its end yet"
    readers[1 - last].reached_end = True
    assert not readiness.caught_up(), f"the reader of {readers[last].stream} has not reached the end"
    readers[last].reached_end = True
    assert readiness.caught_up()
    # Once serving, it stays serving (it then trails the log by milliseconds like any DC).
    readers[last].reached_end = False
    assert readiness.caught_up()


async def test_without_a_leader_the_local_end_is_not_enough() -> None:
    """A rejoined DC's own replica may be empty or behind: reading it to its end proves nothing."""
    _, readers, readiness = _readiness()
    asked, answered = asyncio.Event(), asyncio.Event()

    async def last_seq(stream: str) -> int:
        if stream == ROOMS:
            asked.set()
            await answered.wait()  # no leader for this stream yet
        return 0

    learning = asyncio.create_task(readiness.learn_targets(last_seq))
    for reader in readers:
        reader.reached_end = True
    await asked.wait()
    assert not readiness.caught_up()
    assert ROOMS in readiness.progress()
    answered.set()
    await learning
    assert readiness.caught_up()


#: A stream-info question no node answers (seen while a leader moves: docs/READ_MODELS.md).
UNANSWERED = object()


class _StreamInfo(JetStreamContext):
    """Stream-info answers in the order nodes give them (nothing else is asked of it)."""

    def __init__(self, *answers: tuple[str | None, int, list[str]] | BaseException | object) -> None:
        super().__init__(NATS())
        self.answers = list(answers)

    async def stream_info(self, name: str, subjects_filter: str | None = None) -> StreamInfo:
        answer = self.answers.pop(0)
        if answer is UNANSWERED:
            await asyncio.Event().wait()
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, tuple)
        leader, last, peers = answer
        state = StreamState(messages=last, bytes=0, first_seq=1, last_seq=last, consumer_count=0)
        cluster = ClusterInfo(leader=leader, replicas=[PeerInfo(name=peer) for peer in peers])
        return StreamInfo(config=StreamConfig(name=name), state=state, cluster=cluster)


async def test_last_seq_ignores_a_leaderless_nodes_answer() -> None:
    """A node that has just rejoined with an empty store answers for a stream it thinks leaderless
    from its own replica: "stream not found" before it has made its copy, then last_seq 0. Only
    the leader's answer counts."""
    not_yet = nats.js.errors.NotFoundError(code=404, err_code=10059, description="stream not found")
    js = _StreamInfo(not_yet, (None, 0, ["dc1", "dc2", "dc3"]), ("", 0, []), ("dc2", 42, ["dc1", "dc3"]))
    log = Log(NATS(), js)
    assert await log.last_seq(ROOMS) == 42
    assert js.answers == []


async def test_last_seq_ignores_a_members_answer_that_names_the_leader() -> None:
    """A member can decide the group is leaderless, hear from the leader, and then answer from its
    own (rebuilt, empty) replica naming that leader. The answerer leaves itself out of the peers
    it lists, so an answer listing the leader among them was not the leader's."""
    js = _StreamInfo(("dc2", 0, ["dc2", "dc3"]), ("dc2", 51, ["dc1", "dc3"]))
    log = Log(NATS(), js)
    assert await log.last_seq(ROOMS) == 51
    assert js.answers == []


async def test_last_seq_asks_again_when_no_node_answers() -> None:
    """While a leader steps down, a stream-info question can go unanswered by every node (about
    one in eight moves under CPU contention): the question is asked again after one attempt's
    wait, so the caller gets the leader's answer well within its deadline, not a 503 at it."""
    js = _StreamInfo(UNANSWERED, ("dc2", 7, ["dc1", "dc3"]))
    log = Log(NATS(), js, answer_waits=Backoff(first_s=0.05, max_s=0.05, jitter=0.0))
    assert await asyncio.wait_for(log.last_seq(ROOMS, deadline_s=2.0), 5.0) == 7
    assert js.answers == []


async def test_each_question_asked_again_is_logged_with_why(caplog: pytest.LogCaptureFixture) -> None:
    """A rebuilt DC that waits seconds for one stream's end (docs/PERFORMANCE.md, "Known gaps")
    leaves in its log what each try got: no answer, or an answer that was not the leader's."""
    js = _StreamInfo(UNANSWERED, ("dc2", 0, ["dc2", "dc3"]), ("dc2", 9, ["dc1", "dc3"]))
    log = Log(NATS(), js, answer_waits=Backoff(first_s=0.05, max_s=0.05, jitter=0.0))
    with caplog.at_level(logging.INFO, logger="firebreak.adapters.nats_log"):
        assert await asyncio.wait_for(log.last_seq(ROOMS, deadline_s=2.0), 5.0) == 9
    said = [r.getMessage() for r in caplog.records if "asked again" in r.getMessage()]
    assert len(said) == 2, said
    assert "no answer within the wait" in said[0]
    assert "leader dc2, peers of the answerer: dc2, dc3" in said[1]


async def test_a_stream_is_asked_at_its_leaders_node_when_this_dcs_node_answers_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A node rejoined with an empty store answers for a stream as a leaderless member, naming the
    leader, for seconds on end, and the leader's answer never reaches it (a rebuilt DC served
    10-13 s late in 6 of 19 drills); asked at the leader's own node, the leader answers at once."""
    here = _StreamInfo(("dc2", 0, ["dc2", "dc3"]))
    at_leader = _StreamInfo(("dc2", 64, ["dc1", "dc3"]))
    asked: list[str] = []

    async def at_node(dc: str) -> JetStreamContext | None:
        asked.append(dc)
        return at_leader

    log = Log(NATS(), here, answer_waits=Backoff(first_s=0.05, max_s=0.05, jitter=0.0), at_node=at_node)
    with caplog.at_level(logging.INFO, logger="firebreak.adapters.nats_log"):
        assert await asyncio.wait_for(log.last_seq(ROOMS, deadline_s=2.0), 5.0) == 64
    assert asked == ["dc2"] and here.answers == [] and at_leader.answers == []
    assert not [r for r in caplog.records if "asked again" in r.getMessage()]
