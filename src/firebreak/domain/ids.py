"""Identifiers, partitioning, subjects and cursors: pure functions shared by every DC.

Everything here must give the same answer in every DC and every version, because it decides where
an event lives in the log and what a client's cursor means.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re

from firebreak.domain.validation import MAX_POSITION
from firebreak.errors import BadRequest

ACCOUNTS_STREAM = "ACCOUNTS"
#: The wallet ledger: one stream, so every DC applies all of it in one order (docs/PAYMENTS.md).
WALLETS_STREAM = "WALLETS"
#: Room ids as :func:`direct_room_id` and :func:`group_room_id` make them (JSON Schema pattern).
ROOM_ID_PATTERN = "^[dg]_[0-9a-f]{24}$"
_ROOM_ID = re.compile(ROOM_ID_PATTERN[1:-1])
#: Session ids as service/auth.py makes them (12 random bytes, hex).
SESSION_ID_PATTERN = "^[0-9a-f]{24}$"
_CURSOR_SEQ = re.compile("[0-9]{1,16}")


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


#: Rooms whose partition is kept: a send asks for it several times (its subject, its write hint),
#: and each answer is a sha256.
PARTITIONS_KEPT = 16_384


@functools.lru_cache(maxsize=PARTITIONS_KEPT)
def partition_of(room_id: str, partitions: int) -> int:
    """Stable partition of a room: a hash, never Python's randomised ``hash``."""
    return int(_digest(room_id)[:8], 16) % partitions


def room_subject(room_id: str, partitions: int) -> str:
    return f"{room_subject_prefix(partition_of(room_id, partitions))}.{room_id}"


def _keyed(key: bytes, *parts: str) -> str:
    return hmac.new(key, b"".join(p.encode() + b"\x00" for p in parts), hashlib.sha256).hexdigest()


def direct_room_id(key: bytes, user_a: str, user_b: str) -> str:
    """The 1:1 room of two users: the same in every DC for the same pair (two DCs opening it at once
    create one room), but keyed with the cluster's room-id key, so nobody without the key can tell
    from the id whose room it is, nor compute the id of someone else's conversation."""
    low, high = sorted((user_a, user_b))
    return "d_" + _keyed(key, "direct", low, high)[:24]


def group_room_id(key: bytes, creator: str, request_id: str) -> str:
    """A group room's id derives from its creator's request id, so a retried create is the same room;
    keyed like :func:`direct_room_id`, since a client's request ids may be predictable."""
    return "g_" + _keyed(key, "group", creator, request_id)[:24]


def user_id_for(username: str) -> str:
    """Usernames are unique forever (no rename, no reuse), so the user id can be derived from it."""
    return "u_" + _digest("user", username)[:20]


def username_subject(username: str) -> str:
    return f"acct.name.{username}"


def user_subject(user_id: str) -> str:
    return f"acct.user.{user_id}"


def wallet_subject(user_id: str) -> str:
    return f"wallet.{user_id}"


def transfer_dedupe_id(payer: str, client_id: str) -> str:
    return f"pay:{payer}:{client_id}"


def credit_dedupe_id(user_id: str, request_id: str) -> str:
    return f"faucet:{user_id}:{request_id}"


def message_dedupe_id(room_id: str, sender: str, client_id: str) -> str:
    return f"msg:{room_id}:{sender}:{client_id}"


def is_room_id(value: str) -> bool:
    """Whether ``value`` could name a room; anything else is unknown without a lookup (and never
    reaches a NATS subject, where dots and wildcards mean something)."""
    return _ROOM_ID.fullmatch(value) is not None


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
        # ASCII digits only (int() also takes "1_0" and other scripts' digits), within SQLite's range.
        if not all(_CURSOR_SEQ.fullmatch(p) for p in parts[1:]):
            raise BadRequest(f"cursor {text!r} is malformed", code="invalid_cursor")
        seqs = [int(p) for p in parts[1:]]
        if any(s > MAX_POSITION for s in seqs):
            raise BadRequest(f"cursor {text!r} is out of range", code="invalid_cursor")
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
