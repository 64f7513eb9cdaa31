"""Throttling password guesses and registrations, cluster-wide (docs/LIMITS.md, docs/SECURITY.md).

A login attempt is counted before its password is hashed, per source address and per account
(username), in the current fixed window; one over a limit is refused with 429
``too_many_attempts`` without hashing. Counting first (rather than after a failure) bounds guesses
made concurrently from every DC too. A login that succeeds takes its attempt back, so only failures
remain counted. Registrations are counted per source address.

The counters live in a replicated counter stream (adapters/counters.py): all DCs share one
allowance. Keys name their window, so a window's counters are never counted again once it ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from firebreak.domain import throttle as t
from firebreak.errors import FirebreakError, RateLimited
from firebreak.limits import Limits

log = logging.getLogger(__name__)


class Counters(Protocol):
    async def add(self, key: str, delta: int) -> int: ...


@dataclass(frozen=True)
class Attempt:
    """The counters one login attempt added to (taken back if it succeeds)."""

    keys: tuple[str, ...]


class Throttle:
    def __init__(self, counters: Counters, limits: Limits, clock: Callable[[], float] = time.time) -> None:
        self._counters = counters
        self._limits = limits
        self._clock = clock

    async def login_attempt(self, username: str, address: str) -> Attempt:
        """Counts a login attempt; raises RateLimited when its address or its account has had too
        many failures in this window. The address is counted first: an address already refused
        adds nothing to the account's count."""
        lim = self._limits
        window = t.window_at(self._clock(), lim.login_window_s)
        by_address = t.login_address_key(address, window)
        if await self._counters.add(by_address, 1) > lim.login_failures_per_address:
            raise RateLimited(
                f"too many failed logins from this address; try again in {window.retry_after_s} s",
                code="too_many_attempts",
                retry_after_s=window.retry_after_s,
            )
        by_account = t.login_account_key(username, window)
        if await self._counters.add(by_account, 1) > lim.login_failures_per_account:
            raise RateLimited(
                f"too many failed logins for this account; try again in {window.retry_after_s} s",
                code="too_many_attempts",
                retry_after_s=window.retry_after_s,
            )
        return Attempt(keys=(by_address, by_account))

    async def login_succeeded(self, attempt: Attempt) -> None:
        """Takes a successful attempt back. Best effort: left counted, it is one failure too many
        until its window ends, which is no reason to refuse a login that succeeded."""
        for key in attempt.keys:
            try:
                await self._counters.add(key, -1)
            except FirebreakError:
                log.warning("could not take back a successful login attempt from %s", key)

    async def registration(self, address: str) -> None:
        """Counts a registration from ``address``; raises RateLimited over the limit."""
        lim = self._limits
        window = t.window_at(self._clock(), lim.register_window_s)
        key = t.register_address_key(address, window)
        if await self._counters.add(key, 1) > lim.registrations_per_address:
            raise RateLimited(
                f"too many registrations from this address; try again in {window.retry_after_s} s",
                code="too_many_registrations",
                retry_after_s=window.retry_after_s,
            )
