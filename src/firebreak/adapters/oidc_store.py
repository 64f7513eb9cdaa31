"""The OpenID Connect provider's state in the replicated KV bucket ``FB_OIDC`` (R3, one replica per
DC): signing keys, clients, authorization codes and their redemptions, refresh-token families and
consents (docs/LOGIN.md has the key layout).

The bucket does not allow direct gets, so every read goes to the stream's leader and sees every
acknowledged write, whichever DC made it: a code issued at dc1 is found at dc2 at once, with no
read model in between. Uniqueness (one redemption per code) is KV ``create``; changes to a record
(a family's rotation or revocation, the key ring) are compare-and-set on the key's revision.
Operations wait out a leader election up to the log's write deadline, then raise Unavailable.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from firebreak.errors import Unavailable
from firebreak.retry import Backoff, retry

OIDC_BUCKET = "FB_OIDC"
STREAM = f"KV_{OIDC_BUCKET}"
T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)
#: "wrong last sequence": the key changed (or exists) since the caller read it.
_WRONG_LAST = {10071, 10164}
#: No leader right now (an election), a timeout: worth another try within the deadline.
_AGAIN: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
    TimeoutError,
)
_BACKOFF = Backoff(first_s=0.02, max_s=0.5)


class _InFlight(Exception):
    """A key reported taken but not readable yet: the first write is still being stored."""


class Taken(Exception):
    """A ``create`` found the key there, or a compare-and-set found it changed."""


def bucket_config() -> KeyValueConfig:
    # No bucket-wide TTL: clients, keys and consents live until changed; codes, redemptions and
    # families carry a per-message TTL. No direct gets: reads go to the leader (see above).
    return KeyValueConfig(bucket=OIDC_BUCKET, history=1, replicas=3, storage=StorageType.FILE)


class OidcStore:
    def __init__(self, js: JetStreamContext, deadline_s: float = 12.0, attempt_s: float = 2.0) -> None:
        self._js = js
        self._deadline_s = deadline_s
        self._attempt_s = attempt_s
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self._js.key_value(OIDC_BUCKET)
        return self._kv

    async def _patient(self, op: Callable[[], Awaitable[T]]) -> T:
        try:
            return await retry(
                op, retry_on=_AGAIN, deadline=time.monotonic() + self._deadline_s, backoff=_BACKOFF
            )
        except _AGAIN as exc:
            raise Unavailable(
                "the login state cannot be reached (no quorum in the log); retry shortly", retry_after_s=2
            ) from exc

    async def get(self, key: str, kind: type[S]) -> tuple[S, int] | None:
        """The record under ``key`` and its revision, read at the leader; None if absent."""

        async def once() -> tuple[S, int] | None:
            try:
                # direct=False: the stream's leader answers, never a replica that may lag.
                msg = await self._js.get_msg(STREAM, subject=f"$KV.{OIDC_BUCKET}.{key}", direct=False)
            except nats.js.errors.NotFoundError:
                return None
            if not msg.data or (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
                return None
            return msgspec.json.decode(msg.data, type=kind), int(msg.seq or 0)

        return await self._patient(once)

    async def write(self, key: str, value: msgspec.Struct, *, last: int, ttl_s: float | None = None) -> int:
        """Writes ``value`` if ``key``'s revision is still ``last`` (0: the key must not exist);
        raises :class:`Taken` otherwise. Returns the new revision."""
        data = msgspec.json.encode(value)

        async def once() -> int:
            await self._bucket()
            headers = {"Nats-Expected-Last-Subject-Sequence": str(last)}
            try:
                ack = await self._js.publish(
                    f"$KV.{OIDC_BUCKET}.{key}",
                    data,
                    timeout=self._attempt_s,
                    headers=headers,
                    msg_ttl=ttl_s,
                )
            except nats.js.errors.APIError as exc:
                if exc.err_code in _WRONG_LAST:
                    raise Taken(key) from exc
                raise
            return int(ack.seq)

        return await self._patient(once)

    async def create(self, key: str, value: S, *, ttl_s: float | None = None) -> S:
        """Creates ``key`` with ``value`` unless it exists; returns what the key holds then (ours,
        or the value that was first). A conflicting write may still be in flight at the leader
        (10164) and not readable yet: then the create is tried again until one of them shows."""

        async def once() -> S:
            try:
                await self.write(key, value, last=0, ttl_s=ttl_s)
                return value
            except Taken:
                found = await self.get(key, type(value))
                if found is None:
                    raise _InFlight(key) from None
                return found[0]

        try:
            return await retry(once, retry_on=(_InFlight,), deadline=time.monotonic() + self._deadline_s,
                               backoff=_BACKOFF)  # fmt: skip
        except _InFlight as exc:
            raise Unavailable("the login state is busy; retry shortly", retry_after_s=1) from exc

    async def put(self, key: str, value: msgspec.Struct) -> None:
        """Writes ``value`` whatever was there (records with one writer, e.g. a client)."""

        async def once() -> None:
            kv = await self._bucket()
            await kv.put(key, msgspec.json.encode(value))

        await self._patient(once)

    async def scan(self, prefix: str, kind: type[S], limit: int) -> list[S]:
        """Up to ``limit`` records whose keys match ``prefix`` + ``*`` (a list a user asks for)."""

        async def once() -> list[S]:
            kv = await self._bucket()
            watcher = await kv.watch(f"{prefix}*", ignore_deletes=True)
            found: list[S] = []
            try:
                while len(found) < limit:
                    entry = await watcher.updates(timeout=self._attempt_s)  # type: ignore[no-untyped-call]
                    if entry is None:
                        break
                    if entry.value:
                        found.append(msgspec.json.decode(entry.value, type=kind))
            finally:
                await watcher.stop()  # type: ignore[no-untyped-call]
            return found

        return await self._patient(once)
