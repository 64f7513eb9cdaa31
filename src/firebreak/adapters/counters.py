"""Cluster-wide counters in a counter stream (``FB_COUNTERS``, R3): what throttling counts.

Every DC's gateway counts in the same stream, so three DCs share one allowance. Each counter is a
subject, ``count.<key>``; the stream allows message counters (nats-server 2.12+, ADR-49), so an
addition is one publish with a ``Nats-Incr`` header: the stream's leader adds it to the subject's
last value, stores the total and answers it. Concurrent additions to one counter never conflict,
where a compare-and-set on a KV entry (how this was done before) made every login from one busy
address (a carrier's NAT, the bench) retry behind the others (docs/DECISIONS.md, "Password
guessing and hashing load").

Counter streams take no per-message TTL, so the stream keeps only each counter's last value and
drops it once it is older than the longest counting window (``max_age``): a counter's key names
its window, so a key past its window is never counted again.

Each addition carries a message id of its own, the same on every try: one whose acknowledgement
was lost is answered as a duplicate when tried again and counted once, so a login's attempt taken
back after a lost answer is not taken back twice. Tried again while the first try is still being
committed (a busy cluster), it is answered "in process" and asked again (nats_connect.publish_once).
"""

from __future__ import annotations

import secrets
import time

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from firebreak.adapters.nats_connect import BRISK, TRANSIENT, StillCommitting, publish_once
from firebreak.errors import FirebreakError, Unavailable
from firebreak.limits import Limits
from firebreak.retry import retry

COUNTERS_STREAM = "FB_COUNTERS"
_PREFIX = "count."
#: What is worth another try: no leader right now (an election), no answer in time, or an earlier
#: try still being committed.
_AGAIN: tuple[type[BaseException], ...] = (*TRANSIENT, TimeoutError, StillCommitting)
#: Longer than an addition's tries last (the write deadline), shorter than the shortest max_age.
_DEDUPE_WINDOW_S = 30.0


class _Total(msgspec.Struct):
    """A counter's stored value (ADR-49: a decimal string, as the server writes it)."""

    val: str


def stream_config(limits: Limits) -> StreamConfig:
    longest = max(limits.login_window_s, limits.register_window_s)
    return StreamConfig(
        name=COUNTERS_STREAM,
        subjects=[_PREFIX + ">"],
        allow_msg_counter=True,
        allow_direct=True,
        max_msgs_per_subject=1,
        # A minute more than the longest window: a counter is never dropped while it still counts.
        max_age=float(longest + 60),
        duplicate_window=_DEDUPE_WINDOW_S,
        num_replicas=3,
        storage=StorageType.FILE,
    )


class StreamCounters:
    """Atomic additions to named counters. With no quorum for ``deadline_s`` an addition raises
    :class:`Unavailable` (503, ``log_unavailable``): callers fail closed (docs/DECISIONS.md). The
    deadline is the log's write deadline: long enough to ride out one Raft election."""

    def __init__(self, js: JetStreamContext, deadline_s: float = 12.0, attempt_s: float = 0.75) -> None:
        self._js = js
        self._deadline_s = deadline_s
        self._attempt_s = attempt_s

    async def add(self, key: str, delta: int) -> int:
        """Adds ``delta`` to the counter ``key``, once however often it is tried; returns the
        counter's value after it (never below 0)."""
        subject = _PREFIX + key
        headers = {"Nats-Incr": f"{delta:+d}", "Nats-Msg-Id": secrets.token_hex(12)}

        async def once() -> int:
            ack = await publish_once(self._js, subject, b"", attempt_s=self._attempt_s, headers=headers)
            if ack.val is not None:
                return int(ack.val)
            # A try of an addition the stream had already applied: its answer holds no total.
            last = await self._js.get_last_msg(COUNTERS_STREAM, subject, direct=True)
            return int(msgspec.json.decode(last.data or b"", type=_Total).val)

        try:
            deadline = time.monotonic() + self._deadline_s
            return max(0, await retry(once, retry_on=_AGAIN, deadline=deadline, backoff=BRISK))
        except _AGAIN as exc:
            raise Unavailable(
                "the cluster-wide attempt counters cannot be reached (no quorum); retry shortly",
                retry_after_s=2,
            ) from exc
        except (nats.js.errors.Error, msgspec.DecodeError, ValueError) as exc:  # no retry cures it
            raise FirebreakError(f"{COUNTERS_STREAM} refused an addition to {key}: {exc}") from exc
