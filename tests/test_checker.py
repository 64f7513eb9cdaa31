"""The drill checker on hand-made records: every kind of fault is counted, a clean run passes."""

from __future__ import annotations

from firebreak.drill.checker import check
from firebreak.drill.findings import Findings
from firebreak.drill.record import HistoryEntry, Mark, ReadProbe, Receipt, SendRecord

ROOM = "g_room"
MEMBERS = ["ua", "ub"]
DEVICES = {"ua": ["a/0"], "ub": ["b/0", "b/1"]}


def sent(sender: str, cid: str, seq: int, t: float) -> SendRecord:
    return SendRecord(sender, cid, ROOM, scheduled=t, started=t, acked=t + 0.01, room_seq=seq, dc="dc1")


def receipts(keys: list[tuple[str, str, int]], devices: list[str]) -> list[Receipt]:
    return [
        Receipt(d, "?", ROOM, s, c, seq, 1.0 + i * 0.01)
        for d in devices
        for i, (s, c, seq) in enumerate(keys)
    ]


def run(
    sends: list[SendRecord],
    history: list[tuple[str, str, int]],
    got: list[Receipt],
    *,
    other_history: list[tuple[str, str, int]] | None = None,
    digests: dict[str, str] | None = None,
    probes: list[ReadProbe] | None = None,
    limit: float | None = None,
) -> Findings:
    h1 = [HistoryEntry(*e) for e in history]
    h2 = [HistoryEntry(*e) for e in (other_history if other_history is not None else history)]
    return check(
        sends=sends,
        receipts=got,
        rooms={ROOM: MEMBERS},
        devices=DEVICES,
        histories={"dc1": {ROOM: h1}, "dc2": {ROOM: h2}},
        digests=digests or {"dc1": "x", "dc2": "x"},
        marks=[Mark(0.5, "fire dc3", "dc3")],
        probes=probes or [ReadProbe(0.6, "dc1", True, 0.001)],
        end=3.0,
        max_outage_limit_s=limit,
    )


GOOD_SENDS = [sent("ua", "c1", 1, 0.1), sent("ub", "c2", 2, 0.2), sent("ua", "c3", 3, 0.3)]
GOOD = [("ua", "c1", 1), ("ub", "c2", 2), ("ua", "c3", 3)]
ALL_DEVICES = ["a/0", "b/0", "b/1"]


def test_a_clean_run_passes() -> None:
    f = run(GOOD_SENDS, GOOD, receipts(GOOD, ALL_DEVICES))
    assert f.verdict.passed and f.verdict.acked == 3
    assert [p.label for p in f.phases] == ["before fire dc3", "after fire dc3"]


def test_each_fault_is_counted() -> None:
    v = run(GOOD_SENDS, GOOD[:2], receipts(GOOD[:2], ALL_DEVICES)).verdict
    assert (v.lost, v.passed) == (1, False)
    v = run(GOOD_SENDS, [*GOOD, ("ua", "c1", 4)], receipts(GOOD, ALL_DEVICES)).verdict
    assert v.duplicated == 1 and not v.passed
    v = run(GOOD_SENDS, [*GOOD, ("ux", "ghost", 4)], receipts(GOOD, ALL_DEVICES)).verdict
    assert v.never_sent == 1 and v.missing_deliveries == 3
    v = run(GOOD_SENDS, GOOD, receipts([GOOD[1], GOOD[0], GOOD[2]], ALL_DEVICES)).verdict
    assert v.out_of_order == 3
    v = run(GOOD_SENDS, GOOD, receipts(GOOD, ALL_DEVICES) + receipts(GOOD[:1], ["b/1"])).verdict
    assert v.duplicate_deliveries == 1
    v = run(GOOD_SENDS, GOOD, receipts(GOOD, ["a/0", "b/0"])).verdict
    assert v.missing_deliveries == 3, "b's second device got nothing"
    swapped = [sent("ua", "c1", 3, 0.1), sent("ub", "c2", 2, 0.2), sent("ua", "c3", 1, 0.3)]
    swapped_history = [("ua", "c3", 1), ("ub", "c2", 2), ("ua", "c1", 3)]
    v = run(swapped, swapped_history, receipts(swapped_history, ALL_DEVICES)).verdict
    assert v.sender_order_broken == 1
    v = run(
        GOOD_SENDS,
        GOOD,
        receipts(GOOD, ALL_DEVICES),
        other_history=[("ub", "c2", 1), ("ua", "c1", 2), GOOD[2]],
    ).verdict
    assert v.order_mismatch_rooms == 1 and v.wrong_position == 2, "dc2 stores c1 and c2 swapped"
    v = run(GOOD_SENDS, GOOD, receipts(GOOD, ALL_DEVICES), digests={"dc1": "x", "dc2": "y"}).verdict
    assert not v.read_models_identical and not v.passed
    v = run(
        GOOD_SENDS,
        GOOD,
        receipts(GOOD, ALL_DEVICES),
        probes=[ReadProbe(1, "dc2", False, 1, "log_unavailable")],
    ).verdict
    assert v.read_failures == 1 and not v.passed


def test_failed_sends_are_not_losses_and_limits_apply() -> None:
    failed = SendRecord("ub", "c9", ROOM, scheduled=1.0, started=1.0, failed=6.0, error="log_unavailable")
    f = run([*GOOD_SENDS, failed], GOOD, receipts(GOOD, ALL_DEVICES))
    assert f.verdict.passed and f.verdict.failed == 1 and f.errors == {"log_unavailable": 1}
    assert f.verdict.max_outage_s == 5.0 and f.rooms[0].failed == 1
    present = run(
        [*GOOD_SENDS, failed], [*GOOD, ("ub", "c9", 4)], receipts([*GOOD, ("ub", "c9", 4)], ALL_DEVICES)
    )
    assert present.verdict.passed and present.verdict.unacked_but_present == 1
    assert not run([*GOOD_SENDS, failed], GOOD, receipts(GOOD, ALL_DEVICES), limit=2.0).verdict.passed
