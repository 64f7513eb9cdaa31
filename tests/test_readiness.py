"""A DC answers only once its read model has caught up with the log as it was at start."""

from __future__ import annotations

from typing import Any, cast

from firebreak.adapters.replica_reader import ReplicaReader
from firebreak.service.projector import Projector
from firebreak.service.readiness import Readiness


class _Projector:
    def __init__(self) -> None:
        self.head = {"ACCOUNTS": 0, "ROOMS_0": 0}


class _Reader:
    reached_end = False


def test_serves_only_after_reaching_the_start_targets_and_the_local_end() -> None:
    projector, reader = _Projector(), _Reader()
    readiness = Readiness(
        cast(Projector, projector), [cast(ReplicaReader, reader)], {"ACCOUNTS": 5, "ROOMS_0": 100}
    )
    assert not readiness.caught_up()
    projector.head.update(ACCOUNTS=5, ROOMS_0=100)
    assert not readiness.caught_up(), "the local replica has not been read to its end yet"
    reader.reached_end = True
    assert readiness.caught_up()
    assert "105 of 105" in readiness.progress()
    # Once serving, it stays serving (it then trails the log by milliseconds like any DC).
    cast(Any, reader).reached_end = False
    assert readiness.caught_up()


def test_without_a_leader_at_start_the_local_end_decides() -> None:
    projector, reader = _Projector(), _Reader()
    readiness = Readiness(cast(Projector, projector), [cast(ReplicaReader, reader)], {"ROOMS_0": 0})
    assert not readiness.caught_up()
    reader.reached_end = True
    assert readiness.caught_up()
