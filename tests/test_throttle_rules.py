"""The throttle's rules and the bounded hashing queue, without a cluster: counters in memory and
a clock the test moves (the real-cluster behaviour is in tests/test_throttle.py)."""

from __future__ import annotations

import asyncio

import pytest

from firebreak.domain import throttle as t
from firebreak.errors import RateLimited, Unavailable
from firebreak.limits import Limits
from firebreak.service.auth import Passwords
from firebreak.service.throttle import Throttle

LIMITS = Limits(login_failures_per_account=3, login_failures_per_address=5, registrations_per_address=2)


class MemoryCounters:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    async def add(self, key: str, delta: int) -> int:
        self.values[key] = max(0, self.values.get(key, 0) + delta)
        return self.values[key]


class Down:
    async def add(self, key: str, delta: int) -> int:
        raise Unavailable("no quorum", retry_after_s=2)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_windows_and_keys() -> None:
    w = t.window_at(1000.5, 900)
    assert (w.index, w.ends_in_s, w.retry_after_s) == (1, 799.5, 800)
    assert t.window_at(1800.0, 900).index == 2
    key = t.login_address_key("2001:db8::1", w)
    assert key.startswith("login.addr.") and ":" not in key
    assert t.login_address_key("2001:db8::1", w) != t.login_address_key("2001:db8::2", w)
    assert t.login_account_key("alice", w) == "login.acct.alice.1"


async def test_failures_lock_until_the_next_window() -> None:
    clock = Clock(10_000.0)
    throttle = Throttle(MemoryCounters(), LIMITS, clock)
    for _ in range(3):
        await throttle.login_attempt("alice", "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        await throttle.login_attempt("alice", "10.0.0.2")
    assert refused.value.code == "too_many_attempts"
    retry_after = refused.value.retry_after_s
    assert retry_after is not None and 0 < retry_after <= LIMITS.login_window_s
    clock.now += retry_after
    await throttle.login_attempt("alice", "10.0.0.3")


async def test_a_success_is_taken_back() -> None:
    throttle = Throttle(MemoryCounters(), LIMITS, Clock(10_000.0))
    for _ in range(10):
        await throttle.login_succeeded(await throttle.login_attempt("alice", "10.0.0.1"))
    await throttle.login_attempt("alice", "10.0.0.1")


async def test_the_address_limit_covers_every_account() -> None:
    throttle = Throttle(MemoryCounters(), LIMITS, Clock(10_000.0))
    for i in range(5):
        await throttle.login_attempt(f"user{i}", "10.0.0.1")
    with pytest.raises(RateLimited):
        await throttle.login_attempt("user9", "10.0.0.1")
    await throttle.login_attempt("user9", "10.0.0.2")


async def test_registrations_per_address() -> None:
    throttle = Throttle(MemoryCounters(), LIMITS, Clock(10_000.0))
    await throttle.registration("10.0.0.1")
    await throttle.registration("10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        await throttle.registration("10.0.0.1")
    assert refused.value.code == "too_many_registrations"
    await throttle.registration("10.0.0.2")


async def test_no_counters_no_login() -> None:
    """Fail closed: without the counters a guess cannot be counted, so it is not checked."""
    with pytest.raises(Unavailable) as refused:
        await Throttle(Down(), LIMITS).login_attempt("alice", "10.0.0.1")
    assert refused.value.status == 503 and refused.value.retry_after_s


async def test_the_hashing_queue_is_bounded() -> None:
    passwords = Passwords(time_cost=2, memory_kib=8 * 1024, queue_max=1)
    hashed = await passwords.hash("a password")
    tries = [passwords.verify(hashed, "a wrong password") for _ in range(8)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    busy = [r for r in results if isinstance(r, Unavailable)]
    assert len(busy) == 8 - Passwords.SLOTS - 1
    assert all(b.code == "busy" and b.retry_after_s for b in busy)
    assert all(r is False for r in results if not isinstance(r, Unavailable))
    assert await passwords.verify(hashed, "a password")  # the queue is free again


async def test_an_unknown_user_is_checked_against_a_dummy_hash() -> None:
    passwords = Passwords(time_cost=1, memory_kib=1024)
    assert await passwords.verify(None, "anything at all") is False
