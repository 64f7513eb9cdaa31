"""The attachments' part of the drill verdict on hand-made records (no cluster)."""

from __future__ import annotations

from firebreak.drill.checker import check
from firebreak.drill.files_checker import FileRead, FileReads, FileRecord
from firebreak.drill.findings import Verdict
from firebreak.drill.record import HistoryEntry, ReadProbe, SendRecord

ROOM = "g_room"
A = FileRecord("ua", "f1", ROOM, 40_000, "a" * 64, started=0.1, acked=0.5, file_id="file_a")
B = FileRecord("ub", "f2", ROOM, 90_000, "b" * 64, started=0.2, acked=0.9, file_id="file_b")
GAVE_UP = FileRecord("ub", "f3", ROOM, 50_000, "c" * 64, started=0.3, failed=5.3, error="log_unavailable")
DCS = ("dc1", "dc2", "dc3")


def good_reads() -> FileReads:
    return {dc: {"file_a": FileRead(40_000, "a" * 64), "file_b": FileRead(90_000, "b" * 64)} for dc in DCS}


def verdict(files: list[FileRecord], reads: FileReads) -> Verdict:
    sent = SendRecord("ua", "c1", ROOM, scheduled=0.1, started=0.1, acked=0.2, room_seq=1, dc="dc1")
    return check(
        sends=[sent],
        receipts=[],
        rooms={ROOM: ["ua"]},
        devices={},
        histories={dc: {ROOM: [HistoryEntry("ua", "c1", 1)]} for dc in DCS},
        digests=dict.fromkeys(DCS, "x"),
        marks=[],
        probes=[ReadProbe(0.6, "dc1", True, 0.001)],
        end=3.0,
        files=files,
        file_reads=reads,
    ).verdict


def test_every_acknowledged_file_identical_everywhere_passes() -> None:
    v = verdict([A, B, GAVE_UP], good_reads())
    assert v.passed
    assert (v.files_acked, v.files_failed, v.files_lost, v.files_differing) == (2, 1, 0, 0)
    assert v.files_dcs_checked == list(DCS)


def test_a_file_one_dc_cannot_serve_is_lost() -> None:
    reads = good_reads()
    reads["dc3"]["file_a"] = FileRead(error="unknown_file")
    v = verdict([A, B], reads)
    assert not v.passed and v.files_lost == 1 and v.files_differing == 0


def test_a_file_missing_from_a_dcs_read_back_is_lost() -> None:
    reads = good_reads()
    del reads["dc2"]["file_b"]
    v = verdict([A, B], reads)
    assert not v.passed and v.files_lost == 1


def test_other_bytes_or_another_size_differ() -> None:
    reads = good_reads()
    reads["dc1"]["file_a"] = FileRead(40_000, "d" * 64)
    reads["dc2"]["file_b"] = FileRead(89_999, "b" * 64)
    v = verdict([A, B], reads)
    assert not v.passed and (v.files_lost, v.files_differing) == (0, 2)


def test_an_upload_given_up_is_not_checked_and_no_files_pass() -> None:
    assert verdict([GAVE_UP], {dc: {} for dc in DCS}).passed
    assert verdict([], {}).passed
