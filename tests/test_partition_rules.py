"""The partition rule of the drill's verdict on hand-made records (drill/partition.py): a send
begun after its DC was cut off and acknowledged by that DC before the heal is a split brain."""

from __future__ import annotations

from firebreak.drill.checker import check
from firebreak.drill.partition import cut_windows, minority_acks
from firebreak.drill.record import HistoryEntry, Mark, ReadProbe, SendRecord

ROOM = "g_room"
CUT = [Mark(1.0, "partition dc3", "dc3"), Mark(5.0, "heal dc3", "dc3")]


def sent(cid: str, started: float, acked: float, dc: str, seq: int) -> SendRecord:
    return SendRecord("ua", cid, ROOM, scheduled=started, started=started, acked=acked, room_seq=seq, dc=dc)


def test_cut_windows_pair_each_cut_with_its_heal_and_an_open_cut_runs_to_the_end() -> None:
    marks = [*CUT, Mark(6.0, "partition dc1", "dc1"), Mark(6.5, "fire dc2", "dc2")]
    assert cut_windows(marks, end=9.0) == [("dc3", 1.0, 5.0), ("dc1", 6.0, 9.0)]


def test_only_a_send_begun_during_the_cut_and_acknowledged_by_the_cut_dc_counts() -> None:
    sends = [
        sent("before", 0.9, 1.2, "dc3", 1),  # begun before the cut: its commit may predate it
        sent("moved", 1.5, 3.0, "dc1", 2),  # acknowledged by the majority
        sent("split", 2.0, 2.1, "dc3", 3),  # the cut-off DC acknowledged a new write: split brain
        sent("after", 5.5, 5.6, "dc3", 4),  # after the heal
    ]
    assert [s.client_id for s in minority_acks(sends, CUT, end=9.0)] == ["split"]
    history = [HistoryEntry("ua", s.client_id, s.room_seq) for s in sends]
    verdict = check(
        sends=sends,
        receipts=[],
        rooms={ROOM: ["ua"]},
        devices={"ua": []},
        histories={"dc1": {ROOM: history}, "dc2": {ROOM: history}},
        digests={"dc1": "x", "dc2": "x"},
        marks=CUT,
        probes=[ReadProbe(0.5, "dc1", True, 0.001)],
        end=9.0,
    ).verdict
    assert verdict.minority_acks == 1 and not verdict.passed
    clean = check(
        sends=[s for s in sends if s.client_id != "split"],
        receipts=[],
        rooms={ROOM: ["ua"]},
        devices={"ua": []},
        histories={
            "dc1": {ROOM: [h for h in history if h.client_id != "split"]},
            "dc2": {ROOM: [h for h in history if h.client_id != "split"]},
        },
        digests={"dc1": "x", "dc2": "x"},
        marks=CUT,
        probes=[ReadProbe(0.5, "dc1", True, 0.001)],
        end=9.0,
    ).verdict
    assert clean.minority_acks == 0 and clean.passed
