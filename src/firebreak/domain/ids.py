"""Identifiers, partitioning, subjects and cursors: pure functions shared by every DC.

Everything here must give the same answer in every DC and every version, because it decides where
an event lives in the log and what a client's cursor means.
"""

from __future__ import annotations

import hashlib
import re

from firebreak.errors import BadRequest

ACCOUNTS_STREAM = "ACCOUNTS"
USERNAME_RE = re.compile(r"^[a-z0-9_]{3,32}$")
#: Client-chosen ids (message ids, request ids): printable, no spaces, bounded.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


def room_stream(partition: int) -> str:
    return f"ROOMS_{partition}"


def room_subject_prefix(partition: int) -> str:
    return f"rooms.{partition}"


def partition_of(room_id: str, partitions: int) -> int:
    """Stable partition of a room: a hash, never Python's randomised ``hash``."""
    return int(_digest(room_id)[:8], 16) % partitions


def room_subject(room_id: str, partitions: int) -> str:
    return f"{room_subject_prefix(partition_of(room_id, partitions))}.{room_id}"


def direct_room_id(user_a: str, user_b: str) -> str:
    """The one 1:1 room of two users: opening a chat with the same person twice gives the same room."""
    low, high = sorted((user_a, user_b))
    return "d_" + _digest("direct", low, high)[:24]


def group_room_id(creator: str, request_id: str) -> str:
    """A group room's id derives from its creator's request id, so a retried create is the same room."""
    return "g_" + _digest("group", creator, request_id)[:24]


def user_id_for(username: str) -> str:
    """Usernames are unique forever (no rename, no reuse), so the user id can be derived from it."""
    return "u_" + _digest("user", username)[:20]


def username_subject(username: str) -> str:
    return f"acct.name.{username}"


def user_subject(user_id: str) -> str:
    return f"acct.user.{user_id}"


def message_dedupe_id(room_id: str, sender: str, client_id: str) -> str:
    return f"msg:{room_id}:{sender}:{client_id}"


def check_client_id(value: str, what: str = "client_id") -> str:
    if not CLIENT_ID_RE.match(value):
        raise BadRequest(f"{what} must be 1-64 characters of A-Z a-z 0-9 _ . : -", code=f"invalid_{what}")
    return value


class Cursor:
    """A position in the log that means the same in every DC: one stream sequence per partition.

    Stream sequences are assigned by the replicated log, so sequence 42 of ROOMS_1 is the same
    event in every DC. The textual form is ``c1-<seq0>-<seq1>-...``; a cursor for another partition
    count is rejected rather than misread.
    """

    __slots__ = ("seqs",)

    def __init__(self, seqs: list[int]) -> None:
        self.seqs = seqs

    @classmethod
    def parse(cls, text: str, partitions: int) -> Cursor:
        parts = text.split("-")
        if parts[0] != "c1" or len(parts) != partitions + 1:
            raise BadRequest(f"cursor {text!r} is not a cursor of this cluster", code="invalid_cursor")
        try:
            seqs = [int(p) for p in parts[1:]]
        except ValueError as exc:
            raise BadRequest(f"cursor {text!r} is malformed", code="invalid_cursor") from exc
        if any(s < 0 for s in seqs):
            raise BadRequest(f"cursor {text!r} is malformed", code="invalid_cursor")
        return cls(seqs)

    def copy(self) -> Cursor:
        return Cursor(list(self.seqs))

    def __str__(self) -> str:
        return "c1-" + "-".join(str(s) for s in self.seqs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cursor) and other.seqs == self.seqs

    def __hash__(self) -> int:
        return hash(tuple(self.seqs))

    def __repr__(self) -> str:
        return f"Cursor({self.seqs})"
