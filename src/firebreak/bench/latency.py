"""Latency figures of every bench: percentiles of measured waits, in milliseconds."""

from __future__ import annotations

import msgspec

from firebreak.stats import quantile


class Latency(msgspec.Struct, frozen=True):
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None


def latency(values: list[float]) -> Latency:
    if not values:
        return Latency(0, None, None, None, None, None)
    s = sorted(values)
    p50, p95, p99, p999 = (round(quantile(s, q) * 1000, 2) for q in (0.5, 0.95, 0.99, 0.999))
    return Latency(len(s), p50, p95, p99, p999, round(s[-1] * 1000, 2))
