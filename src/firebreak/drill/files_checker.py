"""The attachments' part of a drill's verdict (drill/checker.py), from hand-made or real records.
Pure.

An acknowledged upload (its completion answered a file id) must be readable at every DC the drill
read back, byte for byte: the read must have answered, with the size and the sha256 of the bytes
the client uploaded.
"""

from __future__ import annotations

import msgspec


class FileRecord(msgspec.Struct):
    """One upload by a drill client (drill/files.py): what it sent and what it was answered."""

    uploader: str
    client_id: str
    room_id: str
    #: Of the bytes the client sent.
    size: int
    sha256: str
    started: float
    acked: float | None = None
    failed: float | None = None
    error: str = ""
    #: From the completion's answer.
    file_id: str = ""


class FileRead(msgspec.Struct, frozen=True):
    """One DC's read of one file: the size and sha256 of the bytes it served, or the error."""

    size: int = 0
    sha256: str = ""
    error: str = ""


#: Per DC read back: file id -> what that DC served.
FileReads = dict[str, dict[str, FileRead]]


class FileFindings(msgspec.Struct):
    acked: int
    failed: int
    #: acknowledged files a DC could not serve (or was not asked for): must be 0
    lost: int
    #: acknowledged files a DC served with other bytes: must be 0
    differing: int
    dcs_checked: list[str]
    examples: dict[str, list[str]]


def check_files(records: list[FileRecord], reads: FileReads) -> FileFindings:
    acked = [r for r in records if r.acked is not None and r.file_id]
    lost: set[str] = set()
    differing: set[str] = set()
    examples: dict[str, list[str]] = {}

    def note(kind: str, what: str) -> None:
        if len(examples.setdefault(kind, [])) < 5:
            examples[kind].append(what)

    for dc, served in sorted(reads.items()):
        for r in acked:
            got = served.get(r.file_id)
            if got is None or got.error:
                lost.add(r.file_id)
                note("files_lost", f"{dc}: {r.file_id} ({r.size} bytes) {got.error if got else 'not read'}")
            elif got.size != r.size or got.sha256 != r.sha256:
                differing.add(r.file_id)
                note("files_differing", f"{dc}: {r.file_id} served {got.size} bytes sha256 {got.sha256[:12]}")
    return FileFindings(
        acked=len(acked),
        failed=sum(1 for r in records if r.acked is None),
        lost=len(lost),
        differing=len(differing),
        dcs_checked=sorted(reads),
        examples=examples,
    )
