"""The ops board's lease: one holder at a time; a holder that loses it (taken after it expired)
says so instead of failing, and tries to create it again."""

from __future__ import annotations

from typing import Any, cast

import nats.js.errors

from firebreak.adapters.ops_board import OpsBoard


class _KV:
    """A KV bucket with one key and JetStream's compare-and-set rules (nats-py's errors)."""

    def __init__(self) -> None:
        self.revision = 0
        self.holder: bytes | None = None

    async def create(self, key: str, value: bytes) -> int:
        if self.holder is not None:
            raise nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence: 1")
        return self._write(value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if last != self.revision:
            raise nats.js.errors.KeyWrongLastSequenceError(
                description=f"wrong last sequence: {self.revision}"
            )
        return self._write(value)

    def _write(self, value: bytes) -> int:
        self.revision += 1
        self.holder = value
        return self.revision

    def expire(self) -> None:
        self.holder = None


class _JS:
    def __init__(self, kv: _KV) -> None:
        self.kv = kv

    async def key_value(self, bucket: str) -> _KV:
        return self.kv


async def test_one_holder_at_a_time_and_a_lost_lease_is_reported() -> None:
    kv = _KV()
    dc1, dc2 = OpsBoard(cast(Any, _JS(kv))), OpsBoard(cast(Any, _JS(kv)))
    assert await dc1.hold("balancer", "dc1")
    assert not await dc2.hold("balancer", "dc2"), "taken: the second DC waits"
    assert await dc1.hold("balancer", "dc1"), "the holder renews"
    kv.expire()  # dc1 stalled past the TTL ...
    assert await dc2.hold("balancer", "dc2")  # ... and dc2 took the lease
    assert not await dc1.hold("balancer", "dc1"), "the old holder learns it lost the lease"
    assert not await dc1.hold("balancer", "dc1"), "and waits like any other DC"
    assert kv.holder == b"dc2"
