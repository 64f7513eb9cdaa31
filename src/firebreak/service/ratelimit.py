"""Per-user write limits, held cluster-wide without a shared counter (docs/DECISIONS.md).

Every DC's projector applies every DC's events, so each gateway sees each write of a user
milliseconds after it was accepted anywhere. A gateway keeps a token bucket per (user, kind of
write) and charges it

* with each write it admits, before the write is appended (:meth:`WriteLimiter.admit`), and
* with each applied write it did not admit itself (another DC's, or its own before a restart),
  at the time the accepting gateway stamped on the event (:meth:`WriteLimiter.observe`).

An admitted write is remembered until its request ends. When the projector applies it, the applied
event equals the admitted one, so it is recognised and not charged twice; if the request ends
without it being applied here (the append failed, or the log dropped it as a duplicate), its
charge is given back. What one gateway cannot see is what other gateways admitted and have not
yet had applied: each keeps at most ``in_flight`` of those per user and kind (a lone request, such
as a batch, always may go), which bounds the excess of a user who writes at every DC at once
(docs/LIMITS.md). The excess is charged everywhere as soon as it is applied, so it is paid back
from the following allowance, not added to it.

The bucket is kept as a "theoretical arrival time" (GCRA): ``tat`` moves one interval (1/rate)
later per write, and a write is admitted while ``tat`` stays within ``burst`` intervals of now.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Literal, NamedTuple

from firebreak.domain import events as ev
from firebreak.errors import RateLimited
from firebreak.limits import Limits

Kind = Literal["send", "read", "room", "profile"]


class Allowance(NamedTuple):
    rate_per_s: float
    burst: int
    #: For the 429's message, e.g. "50/s (burst 100)".
    text: str
    #: Writes of this kind a user may have in flight at one gateway (None: the limiter's default).
    in_flight: int | None = None


def allowances(limits: Limits) -> dict[Kind, Allowance]:
    """The configured allowance of each kind of write."""
    sends = f"{limits.send_rate_per_s:g}/s (burst {limits.send_burst})"
    reads = f"{limits.read_rate_per_s:g}/s (burst {limits.read_burst})"
    rooms = f"{limits.room_changes_per_min:g} per minute (burst {limits.room_change_burst})"
    profile = f"{limits.profile_changes_per_min:g} per minute (burst {limits.profile_change_burst})"
    return {
        "send": Allowance(limits.send_rate_per_s, limits.send_burst, sends, limits.sends_in_flight),
        "read": Allowance(limits.read_rate_per_s, limits.read_burst, reads),
        "room": Allowance(limits.room_changes_per_min / 60, limits.room_change_burst, rooms),
        "profile": Allowance(limits.profile_changes_per_min / 60, limits.profile_change_burst, profile),
    }


_WHAT: dict[Kind, str] = {
    "send": "sends",
    "read": "mark-reads",
    "room": "room changes (open, create, invite, leave, rename)",
    "profile": "display-name changes",
}


def write_of(event: ev.Event) -> tuple[str, Kind] | None:
    """Who made ``event`` and what kind of write it is; None for the writes limited elsewhere
    (registrations, and logouts, which need a login each)."""
    if isinstance(event, ev.MessageSent | ev.MessageEdited | ev.MessageDeleted):
        return event.sender, "send"
    if isinstance(event, ev.ReactionAdded | ev.ReactionRemoved):
        return event.user_id, "send"
    if isinstance(event, ev.ReadUpTo):
        return event.user_id, "read"
    if isinstance(event, ev.RoomCreated):
        return event.creator, "room"
    if isinstance(event, ev.MembersInvited | ev.RoomRenamed):
        return event.by, "room"
    if isinstance(event, ev.MemberLeft):
        return event.user_id, "room"
    if isinstance(event, ev.DisplayNameChanged):
        return event.user_id, "profile"
    return None


class _Bucket:
    __slots__ = ("pending", "tat", "waiting")

    def __init__(self) -> None:
        #: Theoretical arrival time (the limiter's clock): the bucket is full once it is past.
        self.tat = -math.inf
        #: Writes admitted here and not yet applied here (an event may be admitted twice at once).
        self.pending: dict[ev.Event, int] = {}
        self.waiting = 0


class WriteLimiter:
    """The token buckets of one gateway: :meth:`admit` before each write, :meth:`observe` for each
    batch the projector applies. ``clock`` is monotonic; ``wall`` reads the clock events are
    stamped with (both in seconds)."""

    def __init__(
        self,
        rules: Mapping[Kind, Allowance],
        in_flight: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        min_sweep: int = 10_000,
    ) -> None:
        #: Per kind: one write's interval and the bucket's depth, in seconds.
        self._rules = {kind: (1 / a.rate_per_s, a.burst / a.rate_per_s) for kind, a in rules.items()}
        self._text = {kind: a.text for kind, a in rules.items()}
        self._horizon = max(depth for _, depth in self._rules.values())
        #: Per kind: how many writes a user may have in flight here.
        self._in_flight = {
            kind: in_flight if a.in_flight is None else a.in_flight for kind, a in rules.items()
        }
        self._clock = clock
        self._wall = wall
        self._buckets: dict[tuple[str, Kind], _Bucket] = {}
        self._waiting = 0
        self._min_sweep = min_sweep
        self._sweep_at = min_sweep

    @classmethod
    def from_limits(cls, limits: Limits) -> WriteLimiter:
        return cls(allowances(limits), limits.writes_in_flight)

    def admit(self, *events: ev.Event) -> Admission:
        """Charges ``events`` (one request's writes: one user, one kind) or raises RateLimited,
        charging nothing. Use the answer as a context manager around the append and the wait for
        the read model: leaving it gives back the charge of whatever was not applied here."""
        first = write_of(events[0])
        assert first is not None, "admit only writes a limit applies to"
        assert all(write_of(e) == first for e in events), "one request's writes: one user, one kind"
        kind = first[1]
        interval, depth = self._rules[kind]
        bucket = self._buckets.get(first)
        if bucket is None:
            self._maybe_sweep()
            bucket = self._buckets[first] = _Bucket()
        n = len(events)
        in_flight = self._in_flight[kind]
        if bucket.waiting and bucket.waiting + n > in_flight:
            raise RateLimited(
                f"too many {_WHAT[kind]} in flight: at most {in_flight} at a time per user",
                retry_after_s=1,
            )
        now = self._clock()
        tat = max(bucket.tat, now) + n * interval
        # A whisker of tolerance: n * interval may round above depth for a full bucket.
        if tat - now > depth + 1e-9:
            raise RateLimited(
                f"too many {_WHAT[kind]}: at most {self._text[kind]} per user",
                retry_after_s=max(1, math.ceil(tat - depth - now)),
            )
        bucket.tat = tat
        for event in events:
            bucket.pending[event] = bucket.pending.get(event, 0) + 1
        bucket.waiting += n
        self._waiting += n
        return Admission(self, bucket, interval, events)

    def _release(self, bucket: _Bucket, interval: float, events: tuple[ev.Event, ...]) -> None:
        """The request ended: what was not applied here is forgotten, and its charge given back
        (if it is in the log after all, it is charged when it is applied)."""
        pending = bucket.pending
        for event in events:
            count = pending.get(event)
            if count is None:
                continue
            if count == 1:
                del pending[event]
            else:
                pending[event] = count - 1
            bucket.waiting -= 1
            self._waiting -= 1
            bucket.tat -= interval

    def observe(self, events: list[ev.Event]) -> None:
        """Charges the applied ``events`` that this gateway did not admit (the projector calls it
        for each applied batch, every DC's writes). Events older than a bucket's depth cannot
        matter any more and are skipped: the bulk of a rebuild costs one comparison each."""
        wall = self._wall()
        now = self._clock()
        cutoff_ms = (wall - self._horizon) * 1000
        buckets = self._buckets
        for event in events:
            if event.at < cutoff_ms and not self._waiting:
                continue
            key = write_of(event)
            if key is None:
                continue
            bucket = buckets.get(key)
            if bucket is not None and bucket.waiting:
                count = bucket.pending.get(event)
                if count is not None:  # admitted here: charged then
                    if count == 1:
                        del bucket.pending[event]
                    else:
                        bucket.pending[event] = count - 1
                    bucket.waiting -= 1
                    self._waiting -= 1
                    continue
            interval, depth = self._rules[key[1]]
            age = max(0.0, wall - event.at / 1000)
            if age > depth:
                continue
            if bucket is None:
                self._maybe_sweep()
                bucket = buckets[key] = _Bucket()
            bucket.tat = max(bucket.tat, now - age) + interval

    def _maybe_sweep(self) -> None:
        """Bounds memory: once the buckets double, the full ones (equal to no bucket) are dropped."""
        if len(self._buckets) < self._sweep_at:
            return
        now = self._clock()
        full = [key for key, b in self._buckets.items() if b.tat <= now and not b.waiting]
        for key in full:
            del self._buckets[key]
        self._sweep_at = max(self._min_sweep, 2 * len(self._buckets))


class Admission:
    """Admitted writes, for the time of their request (see :meth:`WriteLimiter.admit`)."""

    __slots__ = ("_bucket", "_events", "_interval", "_limiter")

    def __init__(
        self, limiter: WriteLimiter, bucket: _Bucket, interval: float, events: tuple[ev.Event, ...]
    ) -> None:
        self._limiter = limiter
        self._bucket = bucket
        self._interval = interval
        self._events = events

    def __enter__(self) -> None:
        return None

    def release(self) -> None:
        """Leaves the admission without a ``with`` block (the request ended before its append)."""
        self._limiter._release(self._bucket, self._interval, self._events)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._limiter._release(self._bucket, self._interval, self._events)
