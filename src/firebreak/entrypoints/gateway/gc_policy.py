"""The gateway process's garbage collector: what startup built is set aside, and full
collections are rare.

Why: a gateway holds a large, long-lived heap (modules, the read model's caches, one protocol,
session and task per live socket). CPython collects its oldest generation, which means walking
all of it, after ``threshold[2]`` middle collections, whenever the long-lived objects have grown
by a quarter since the last full pass. Sockets opening in a burst grow that heap fast, so with the
default thresholds (700, 10, 10) full passes came often enough to cost about a fifth of the
gateways' CPU for each socket set up (docs/PERFORMANCE.md, "Many connections"). Rarer full passes
still reclaim the reference cycles that closed sessions leave behind.
"""

from __future__ import annotations

import gc

#: (young, middle, full): a young collection every 10,000 net allocations, a middle one every 20
#: of those, a full one every 100 middle ones (and only after the quarter's growth).
THRESHOLDS = (10_000, 20, 100)


def settle() -> None:
    """Collects what startup left behind, moves every surviving object out of the collector's
    sight (``gc.freeze``: they live as long as the process), and sets :data:`THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
