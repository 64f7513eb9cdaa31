"""Where stream leaders should be: the rule the cluster's leader balancer follows. Pure, no I/O.

Every append to a stream goes through its leader, and losing the leader's DC stalls the stream
for a Raft election (4-9 s), while losing a follower costs ~20 ms (../shared/notes). So leaders
are spread evenly over the DCs that can take them: with n streams and k eligible DCs each leads
floor(n/k) or ceil(n/k), and no stream is led by a DC that is not eligible (draining, not caught
up, or gone). Losing any one DC then stalls about a third of the streams, not all of them. Nor
does a DC lead while it is much farther from its peers than the others (:func:`too_far`): a
degraded wide-area link would make every write it leads slow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

#: A DC is too far to lead when its round trip to its nearest peer is more than SLOW_FACTOR times
#: the nearest DC's and SLOW_MARGIN_MS more than it (both: small round trips vary by factors).
SLOW_FACTOR = 3.0
SLOW_MARGIN_MS = 20.0


def too_far(nearest_peer_ms: Mapping[str, float | None]) -> set[str]:
    """The DCs whose leaders would make every write slow: a leader commits once its nearest
    follower has the entry, so a DC much farther from its nearest peer than the others are should
    lead nothing while they can. DCs whose distance is unknown are judged by the ones known."""
    known = {dc: ms for dc, ms in nearest_peer_ms.items() if ms is not None}
    if len(known) < 2:
        return set()
    best = min(known.values())
    return {dc for dc, ms in known.items() if ms > SLOW_FACTOR * best and ms > best + SLOW_MARGIN_MS}


def moves(leaders: Mapping[str, str | None], eligible: Sequence[str]) -> list[tuple[str, str]]:
    """The leader moves, as (stream, target DC), that make ``leaders`` balanced over ``eligible``.

    ``leaders`` maps each stream to its leader's DC (None: no leader now; such a stream is left to
    its election). Streams led by a DC that is not eligible move first; then one stream at a time
    from the most to the least loaded eligible DC until they differ by at most one. Deterministic:
    ties break by name, so every balancer that sees the same state plans the same moves.
    """
    if not eligible:
        return []
    now = dict(leaders)
    load = Counter({dc: 0 for dc in eligible})
    load.update(dc for dc in now.values() if dc is not None and dc in load)
    planned: list[tuple[str, str]] = []

    def least() -> str:
        return min(eligible, key=lambda dc: (load[dc], dc))

    for stream in sorted(now):
        leader = now[stream]
        if leader is not None and leader not in load:
            target = least()
            planned.append((stream, target))
            now[stream] = target
            load[target] += 1
    while True:
        most = max(eligible, key=lambda dc: (load[dc], dc))
        fewest = least()
        if load[most] - load[fewest] <= 1:
            return planned
        stream = min(s for s, dc in now.items() if dc == most)
        planned.append((stream, fewest))
        now[stream] = fewest
        load[most] -= 1
        load[fewest] += 1
