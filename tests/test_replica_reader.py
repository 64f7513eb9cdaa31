"""The reader's one rule, whichever path an entry comes by: hand on exactly the next sequence, skip
what was handed on already, and treat a jump as a gap to pull."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from firebreak.adapters.replica_reader import Entry, ReplicaReader


class _FakeNats:
    def new_inbox(self) -> str:
        return "_INBOX.test"


def _pushed(seq: int) -> Msg:
    fake: Any = type("M", (), {"headers": {"Nats-Sequence": str(seq)}, "data": f"e{seq}".encode()})()
    return cast(Msg, fake)


async def test_push_hands_on_in_order_skips_repeats_and_flags_gaps() -> None:
    out: asyncio.Queue[Entry] = asyncio.Queue()
    reader = ReplicaReader(cast(NATS, _FakeNats()), "ROOMS_0", "fbc.rooms.0.>", 1, out)
    for seq in (1, 2, 2, 1, 3):
        await reader._on_committed(_pushed(seq))
    assert [out.get_nowait()[1] for _ in range(out.qsize())] == [1, 2, 3]
    assert reader.next_seq == 4 and reader.pushed == 3 and not reader._gap

    await reader._on_committed(_pushed(6))  # 4 and 5 were lost on the way: pull them
    assert out.empty() and reader.next_seq == 4 and reader._gap

    # The pull path fills the gap through the same rule; a late push of 5 is then skipped.
    assert reader._accept(4, b"e4") and reader._accept(5, b"e5")
    await reader._on_committed(_pushed(5))
    await reader._on_committed(_pushed(6))
    assert [out.get_nowait()[1] for _ in range(out.qsize())] == [4, 5, 6]


async def test_own_append_asks_for_a_read_only_when_not_yet_delivered() -> None:
    out: asyncio.Queue[Entry] = asyncio.Queue()
    reader = ReplicaReader(cast(NATS, _FakeNats()), "ROOMS_0", "fbc.rooms.0.>", 1, out)
    await reader._on_committed(_pushed(1))
    reader.ring(1)  # already delivered by push
    assert not reader._wake.is_set()
    reader.ring(2)
    assert reader._wake.is_set() and reader._want == 2
