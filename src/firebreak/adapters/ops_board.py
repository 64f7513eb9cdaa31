"""The operations board: a small replicated KV bucket (``FB_OPS``) where gateways say how their
DC is and hold leases for cluster-wide jobs that one actor at a time must do.

* ``dc.<name>``: each gateway's heartbeat (serving or not, draining or not), rewritten every few
  seconds. Entries expire with the bucket's TTL, so a DC whose gateway is gone drops off the board
  by itself.
* ``lease.<job>``: the DC holding a job (e.g. the leader balancer). Created with KV ``create``
  (exactly one winner), renewed by its holder with a compare-and-set on its revision, and lost by
  expiry when the holder dies: another DC's next ``create`` then wins.

Being in the log, the board is in every DC and survives any one of them (nothing about operations
lives in one DC only).
"""

from __future__ import annotations

import logging

import msgspec
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

OPS_BUCKET = "FB_OPS"
#: How long an entry lives unless rewritten: a dead gateway's heartbeat and a dead holder's lease
#: disappear this long after their last write.
OPS_TTL_S = 15.0


class DCHeartbeat(msgspec.Struct, frozen=True):
    ready: bool
    draining: bool
    #: round trip from this DC's node to its nearest peer (adapters/route_rtt.py); None: unknown
    nearest_peer_ms: float | None = None


def bucket_config() -> KeyValueConfig:
    return KeyValueConfig(bucket=OPS_BUCKET, history=1, ttl=OPS_TTL_S, replicas=3, storage=StorageType.FILE)


#: "wrong last sequence" (10164: a racing write to the same key was still in flight).
_WRONG_LAST = {10071, 10164}
#: Errors that mean "the board cannot be reached right now": the caller tries on its next round.
BOARD_UNREACHABLE: tuple[type[BaseException], ...] = (nats.errors.Error, TimeoutError)


class OpsBoard:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._kv: KeyValue | None = None
        #: lease name -> the revision of our last write, while we hold it
        self._held: dict[str, int] = {}

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self._js.key_value(OPS_BUCKET)
        return self._kv

    async def beat(self, dc: str, heartbeat: DCHeartbeat) -> None:
        await (await self._bucket()).put(f"dc.{dc}", msgspec.json.encode(heartbeat))

    async def heartbeats(self, dcs: list[str]) -> dict[str, DCHeartbeat]:
        """The live heartbeat of each named DC that has one (a DC without one is absent)."""
        kv = await self._bucket()
        out: dict[str, DCHeartbeat] = {}
        for dc in dcs:
            try:
                entry = await kv.get(f"dc.{dc}")
            except nats.js.errors.KeyNotFoundError:
                continue
            if entry.value:
                out[dc] = msgspec.json.decode(entry.value, type=DCHeartbeat)
        return out

    async def hold(self, lease: str, me: str) -> bool:
        """Takes or renews ``lease`` for ``me``; False while another DC holds it."""
        kv = await self._bucket()
        key = f"lease.{lease}"
        revision = self._held.get(lease)
        try:
            if revision is None:
                self._held[lease] = await kv.create(key, me.encode())
            else:
                self._held[lease] = await kv.update(key, me.encode(), last=revision)
            return True
        except nats.js.errors.APIError as exc:
            # Held by another DC, or ours expired and was taken: try to create it next round.
            # nats-py's KV errors carry no err_code of their own: the class says it.
            lost = (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyWrongLastSequenceError)
            if isinstance(exc, lost) or getattr(exc, "err_code", None) in _WRONG_LAST:
                self._held.pop(lease, None)
                return False
            raise
