"""What a faulty link between two DCs does to the bytes of a TCP stream (pure; linkproxy.py applies it).

The kernel of these machines has no ``netem``, so wide-area links are modelled above TCP, on the
byte stream a route connection carries (docs/FAILOVER.md says what that leaves out). Per directed
link (from one DC to another):

* **delay**: every chunk is released ``delay_ms`` after it was read, so a round trip over two
  links of ``d`` costs ``2d``.
* **jitter**: each chunk's delay varies uniformly within ``±jitter_ms``, but a chunk never
  overtakes the one before it: TCP delivers a stream in order, so a late chunk holds back the
  ones behind it, as a late segment does (head-of-line blocking).
* **loss**: TCP loses no bytes; a lost segment is sent again after a retransmission timeout and
  everything behind it waits. So each chunk is "lost" with the chance that at least one of its
  segments (of :data:`SEGMENT_BYTES`) is, ``1 - (1 - loss) ** segments``, and a lost chunk is
  held back one more :func:`retransmission_s` before it (and what follows) goes on.
* **cut**: no connection over the link; the ones open are closed.
"""

from __future__ import annotations

import math
import random

import msgspec

from firebreak.errors import BadRequest

#: A TCP segment's payload on a typical path (1500-byte MTU less IP and TCP headers with options).
SEGMENT_BYTES = 1448
#: Linux's smallest retransmission timeout (TCP_RTO_MIN).
MIN_RTO_S = 0.2
#: Bounds for what a link may be told (a typo should not hold a route for minutes).
MAX_DELAY_MS = 5_000.0
MAX_LOSS = 0.5


class LinkFault(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one directed link does; the default is a perfect link."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    #: chance that a segment is lost (and sent again after a retransmission timeout)
    loss: float = 0.0
    cut: bool = False

    def check(self) -> LinkFault:
        if not 0 <= self.delay_ms <= MAX_DELAY_MS or not 0 <= self.jitter_ms <= MAX_DELAY_MS:
            raise BadRequest(f"link delay and jitter take 0-{MAX_DELAY_MS:.0f} ms", code="invalid_link")
        if not 0 <= self.loss <= MAX_LOSS:
            raise BadRequest(f"link loss takes 0-{MAX_LOSS} (a chance per segment)", code="invalid_link")
        return self

    @property
    def perfect(self) -> bool:
        return self == LinkFault()

    def describe(self) -> str:
        if self.cut:
            return "cut"
        if self.perfect:
            return "perfect"
        parts = [f"delay {self.delay_ms:g} ms"]
        if self.jitter_ms:
            parts.append(f"jitter {self.jitter_ms:g} ms")
        if self.loss:
            parts.append(f"loss {self.loss:g}")
        return ", ".join(parts)


def retransmission_s(fault: LinkFault) -> float:
    """The extra wait of a lost segment: a retransmission timeout, at least Linux's minimum and
    more than a round trip over this link's delay (both ways) and its jitter."""
    rtt_s = 2 * (fault.delay_ms + fault.jitter_ms) / 1000
    return max(MIN_RTO_S, 1.5 * rtt_s)


def chunk_lost(fault: LinkFault, nbytes: int, rng: random.Random) -> bool:
    """Whether a chunk of ``nbytes`` has a lost segment."""
    if fault.loss <= 0 or nbytes <= 0:
        return False
    segments = math.ceil(nbytes / SEGMENT_BYTES)
    return rng.random() < 1 - (1 - fault.loss) ** segments


def release_at(fault: LinkFault, read_at: float, previous: float, nbytes: int, rng: random.Random) -> float:
    """When a chunk read at ``read_at`` goes out, given that the one before it went (or goes) out
    at ``previous``: its delay with jitter, a retransmission wait if it is lost, and never before
    the chunk ahead of it."""
    delay = fault.delay_ms
    if fault.jitter_ms:
        delay += rng.uniform(-fault.jitter_ms, fault.jitter_ms)
    at = read_at + max(0.0, delay) / 1000
    if chunk_lost(fault, nbytes, rng):
        at += retransmission_s(fault)
    return max(at, previous)
