"""Cluster-wide counters in a replicated KV bucket (``FB_LIMITS``, R3): what throttling counts.

Every DC's gateway counts in the same bucket, so three DCs share one allowance. An addition is a
compare-and-set: read the counter and its revision, write the new value with
``Nats-Expected-Last-Subject-Sequence`` set to that revision; a concurrent writer makes it fail
(10071/10164) and it is done again from a fresh read. Each write carries a per-message TTL, so a
counter disappears soon after its window ends; the bucket's ``max_age`` bounds every entry too.

A write whose acknowledgement is lost may be counted twice when retried: throttling errs towards
counting too much, never too little.
"""

from __future__ import annotations

import time

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from firebreak.errors import Unavailable
from firebreak.retry import Backoff, retry

LIMITS_BUCKET = "FB_LIMITS"
#: The longest a counter can live, whatever its own TTL (the longest window allowed in the config).
LIMITS_MAX_AGE_S = 24 * 3600
#: "wrong last sequence": another writer changed the counter first (10164: its write was in flight).
_WRONG_LAST = {10071, 10164}
#: Errors worth another try: a concurrent writer, or no leader right now (an election).
_AGAIN: tuple[type[BaseException], ...] = (nats.errors.Error, TimeoutError)
#: Conflicts are settled by the next read; a short backoff keeps racing writers apart.
_CONFLICT_BACKOFF = Backoff(first_s=0.005, max_s=0.25)


class _Conflict(Exception):
    """Another writer changed the counter between our read and our write."""


_RETRIED: tuple[type[BaseException], ...] = (_Conflict, *_AGAIN)


def bucket_config() -> KeyValueConfig:
    return KeyValueConfig(
        bucket=LIMITS_BUCKET, history=1, ttl=LIMITS_MAX_AGE_S, replicas=3, storage=StorageType.FILE
    )


class KvCounters:
    """Atomic additions to named counters. With no quorum for ``deadline_s`` an operation raises
    :class:`Unavailable` (503, ``log_unavailable``): callers fail closed (docs/DECISIONS.md). The
    deadline is the log's write deadline: long enough to ride out one Raft election."""

    def __init__(self, js: JetStreamContext, deadline_s: float = 12.0, attempt_s: float = 0.75) -> None:
        self._js = js
        self._deadline_s = deadline_s
        self._attempt_s = attempt_s
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self._js.key_value(LIMITS_BUCKET)
        return self._kv

    async def add(self, key: str, delta: int, ttl_s: float) -> int:
        """Adds ``delta`` to the counter ``key`` (never below 0); returns the new value. The
        counter is dropped ``ttl_s`` after this write."""

        async def once() -> int:
            kv = await self._bucket()
            try:
                entry = await kv.get(key)
                current, last = int(entry.value or b"0"), entry.revision or 0
            except nats.js.errors.KeyNotFoundError:
                current, last = 0, 0
            value = max(0, current + delta)
            headers = {"Nats-Expected-Last-Subject-Sequence": str(last)}
            try:
                await self._js.publish(
                    f"$KV.{LIMITS_BUCKET}.{key}",
                    str(value).encode(),
                    timeout=self._attempt_s,
                    headers=headers,
                    msg_ttl=max(1.0, ttl_s),
                )
            except nats.js.errors.APIError as exc:
                if exc.err_code in _WRONG_LAST:
                    raise _Conflict(key) from exc
                raise
            return value

        try:
            return await retry(
                once,
                retry_on=_RETRIED,
                deadline=time.monotonic() + self._deadline_s,
                backoff=_CONFLICT_BACKOFF,
            )
        except _RETRIED as exc:
            raise Unavailable(
                "the cluster-wide attempt counters cannot be reached (no quorum); retry shortly",
                retry_after_s=2,
            ) from exc
