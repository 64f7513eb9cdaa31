"""Small statistics shared by drills and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence


def quantile(ordered: Sequence[float], q: float) -> float:
    """The value at fraction ``q`` of a sorted, non-empty sequence (nearest rank, no interpolation)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
