"""A DC answers only once its read model has caught up with the log as its leaders saw it at start."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import nats.js.errors

from firebreak.adapters.nats_log import Log
from firebreak.adapters.replica_reader import ReplicaReader
from firebreak.service.projector import Projector
from firebreak.service.readiness import Readiness


class _Projector:
    def __init__(self) -> None:
        self.head = {"ACCOUNTS": 0, "ROOMS_0": 0}


class _Reader:
    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.reached_end = False


def _readiness() -> tuple[_Projector, list[_Reader], Readiness]:
    projector, readers = _Projector(), [_Reader("ACCOUNTS"), _Reader("ROOMS_0")]
    return projector, readers, Readiness(cast(Projector, projector), cast(list[ReplicaReader], readers))


async def test_serves_only_after_reaching_the_leaders_targets_and_the_local_end() -> None:
    projector, readers, readiness = _readiness()
    targets = {"ACCOUNTS": 5, "ROOMS_0": 100}

    async def last_seq(stream: str) -> int:
        return targets[stream]

    await readiness.learn_targets(last_seq)
    assert not readiness.caught_up()
    projector.head.update(ACCOUNTS=5, ROOMS_0=100)
    assert not readiness.caught_up(), "the local replica has not been read to its end yet"
    for reader in readers:
        reader.reached_end = True
    assert readiness.caught_up()
    assert "105 of 105" in readiness.progress()
    # Once serving, it stays serving (it then trails the log by milliseconds like any DC).
    cast(Any, readers[0]).reached_end = False
    assert readiness.caught_up()


async def test_without_a_leader_the_local_end_is_not_enough() -> None:
    """A rejoined DC's own replica may be empty or behind: reading it to its end proves nothing."""
    _, readers, readiness = _readiness()
    asked, answered = asyncio.Event(), asyncio.Event()

    async def last_seq(stream: str) -> int:
        if stream == "ROOMS_0":
            asked.set()
            await answered.wait()  # no leader for this stream yet
        return 0

    learning = asyncio.create_task(readiness.learn_targets(last_seq))
    for reader in readers:
        reader.reached_end = True
    await asked.wait()
    assert not readiness.caught_up()
    assert "ROOMS_0" in readiness.progress()
    answered.set()
    await learning
    assert readiness.caught_up()


class _StreamInfo:
    """Stream-info answers in the order nodes give them."""

    def __init__(self, *answers: tuple[str | None, int] | BaseException) -> None:
        self.answers = list(answers)

    async def stream_info(self, stream: str) -> SimpleNamespace:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        leader, last = answer
        return SimpleNamespace(cluster=SimpleNamespace(leader=leader), state=SimpleNamespace(last_seq=last))


async def test_last_seq_ignores_a_leaderless_nodes_answer() -> None:
    """A node that has just rejoined with an empty store answers for a stream it thinks leaderless
    from its own replica: "stream not found" before it has made its copy, then last_seq 0. Only
    the leader's answer counts."""
    not_yet = nats.js.errors.NotFoundError(code=404, err_code=10059, description="stream not found")
    js = _StreamInfo(not_yet, (None, 0), ("", 0), ("dc2", 42))
    log = Log(cast(Any, None), cast(Any, js))
    assert await log.last_seq("ROOMS_0") == 42
    assert js.answers == []
