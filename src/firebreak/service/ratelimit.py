"""Per-user token buckets, per gateway. Limits are in config.Limits and docs/LIMITS.md."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from firebreak.errors import RateLimited


class RateLimiter:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_keys: int = 100_000,
        refused: Callable[[str], None] = lambda code: None,
    ) -> None:
        #: Told the error code of each refusal (the rate-limit metric).
        self._refused = refused
        self._rate = rate_per_s
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys

    def check(self, key: str, n: int = 1) -> None:
        """Takes ``n`` tokens (a batch of n sends), or none and raises RateLimited."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < n:
            self._buckets[key] = (tokens, now)
            wait_s = math.ceil((n - tokens) / self._rate) if self._rate > 0 else 60
            refusal = RateLimited(
                f"too many sends: at most {self._rate:g}/s (burst {self._burst:g}) per user",
                retry_after_s=wait_s,
            )
            self._refused(refusal.code)
            raise refusal
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()  # bounded memory; a full bucket for everyone is the safe reset
        self._buckets[key] = (tokens - n, now)
