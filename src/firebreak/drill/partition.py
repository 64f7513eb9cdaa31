"""The partition rules of the verdict, on what the clients recorded (pure).

While a DC is cut off from the others it is a minority of every stream's Raft group, so it can
commit nothing: no send that began after the cut may be acknowledged by that DC before the heal.
One would mean the cut-off DC took writes on its own, a split brain.
"""

from __future__ import annotations

from firebreak.drill.record import Mark, SendRecord

CUT = "partition"
HEAL = "heal"


def cut_windows(marks: list[Mark], end: float) -> list[tuple[str, float, float]]:
    """(DC, cut at, healed at) for every cut on the timeline; a cut never healed lasts to ``end``."""
    windows: list[tuple[str, float, float]] = []
    open_cuts: dict[str, float] = {}
    for mark in sorted(marks, key=lambda m: m.at):
        kind = mark.label.split(" ", 1)[0]
        if kind == CUT:
            open_cuts.setdefault(mark.dc, mark.at)
        elif kind == HEAL and mark.dc in open_cuts:
            windows.append((mark.dc, open_cuts.pop(mark.dc), mark.at))
    windows.extend((dc, at, end) for dc, at in open_cuts.items())
    return windows


def minority_acks(sends: list[SendRecord], marks: list[Mark], end: float) -> list[SendRecord]:
    """Sends begun after a DC was cut off and acknowledged by that DC before its heal."""
    return [
        s
        for dc, cut, healed in cut_windows(marks, end)
        for s in sends
        if s.dc == dc
        and s.started is not None
        and s.started >= cut
        and s.acked is not None
        and s.acked <= healed
    ]
