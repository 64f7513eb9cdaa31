"""Where stream leaders should be: the rule the cluster's leader balancer follows. Pure, no I/O.

Every append to a stream goes through its leader, and losing the leader's DC stalls the stream
for a Raft election (4-9 s), while losing a follower costs ~20 ms (../shared/notes). So leaders
are spread evenly over the DCs that can take them: with n streams and k eligible DCs each leads
floor(n/k) or ceil(n/k), and no stream is led by a DC that may not lead (draining, behind, or
gone; one whose standing is not settled yet keeps what it leads: :class:`Eligibility`). Losing
any one DC then stalls about a third of the streams, not all of them. Nor
does a DC lead while it is much farther from its peers than the others (:func:`too_far`): a
degraded wide-area link would make every write it leads slow.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

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


def moves(
    leaders: Mapping[str, str | None], eligible: Sequence[str], keeping: Collection[str] = ()
) -> list[tuple[str, str]]:
    """The leader moves, as (stream, target DC), that make ``leaders`` balanced over ``eligible``.

    ``leaders`` maps each stream to its leader's DC (None: no leader now; such a stream is left to
    its election). A DC in ``keeping`` keeps the streams it leads and is given none (it waits, or
    it leads but is behind this round: :class:`Eligibility`; the two are disjoint). Streams led
    by any other DC that is not eligible move first; then one stream at a time from the most to
    the least loaded eligible DC until they differ by at most one. Deterministic: ties break by name, so every
    balancer that sees the same state plans the same moves.
    """
    if not eligible:
        return []
    now = {s: dc for s, dc in leaders.items() if dc not in keeping}
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


class Unfit(enum.Enum):
    """Why a DC may not lead this round."""

    NO_HEARTBEAT = "no heartbeat on the ops board"
    NOT_SERVING = "its gateway does not serve"
    DRAINING = "it is draining"
    TOO_FAR = "it is much farther from its peers than the other DCs are"
    BEHIND = "a replica of it is behind"


class Standing(enum.Enum):
    """A DC's standing with the leader balancer."""

    LEADS = "may lead"  # gets its share of leaders
    #: leads, but a replica of it is behind this round: keeps its leaders, gets none, and counts
    #: as a DC that may lead (for the balancer's majority)
    LEADS_BEHIND = "may lead, given none this round"
    WAITING = "waiting"  # keeps the leaders it has, gets none
    OUT = "may not lead"  # its leaders move away


class Eligibility:
    """Each DC's standing, judged round by round: a small state machine per DC.

    A DC leads after ``settle_rounds`` fit rounds (a rejoined DC has caught up and stayed so);
    until then it waits, keeping whatever it leads: a cluster's DCs come up rounds apart, and
    taking leaders from the one that served a round after the others only to give them back a round
    later stalls each of those streams twice. A DC is out at once for any reason but
    :attr:`Unfit.BEHIND`, and for that one only after ``settle_rounds`` rounds in a row: one sample
    of a replica behind under steady writes is no reason to stall its DC's streams for hand-overs
    (a slow link is smoothed where it is measured: adapters/route_rtt.py). A round behind neither
    counts as fit nor undoes the fit rounds before it, and a DC that leads but is behind this round
    is reported :attr:`Standing.LEADS_BEHIND`: it keeps its leaders and is given none.
    """

    def __init__(self, dcs: Sequence[str], settle_rounds: int = 2) -> None:
        self._dcs = list(dcs)
        self._settle_rounds = settle_rounds
        self._fit: Counter[str] = Counter()  # DC -> fit rounds since it was last out
        self._behind: Counter[str] = Counter()  # DC -> rounds in a row with a replica behind
        self._standing = {dc: Standing.WAITING for dc in self._dcs}

    def judge(self, verdicts: Mapping[str, Unfit | None]) -> dict[str, Standing]:
        """Takes one round's verdict per DC (None: fit; a DC not named has no heartbeat) and
        returns every DC's standing for this round's plan."""
        reported: dict[str, Standing] = {}
        for dc in self._dcs:
            verdict = verdicts.get(dc, Unfit.NO_HEARTBEAT)
            self._behind[dc] = self._behind[dc] + 1 if verdict is Unfit.BEHIND else 0
            if verdict is None:
                self._fit[dc] += 1
            self._standing[dc] = now = self._next(self._standing[dc], verdict, dc)
            if now is Standing.OUT:
                self._fit[dc] = 0
            reported[dc] = Standing.LEADS_BEHIND if now is Standing.LEADS and verdict is not None else now
        return reported

    def _next(self, now: Standing, verdict: Unfit | None, dc: str) -> Standing:
        if verdict is Unfit.BEHIND:
            return Standing.OUT if self._behind[dc] >= self._settle_rounds else now
        if verdict is not None:
            return Standing.OUT
        if self._fit[dc] >= self._settle_rounds:
            return Standing.LEADS
        return Standing.LEADS if now is Standing.LEADS else Standing.WAITING
