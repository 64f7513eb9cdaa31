"""Whether a DC's read model is complete enough to answer anyone.

A gateway that starts on an empty or old read model (a burned DC being rebuilt, a restart after a
long outage) would otherwise answer from partial state: histories with holes, rooms missing from
lists, "not a member" for rooms created meanwhile. Until it has caught up it refuses API calls and
WebSockets with 503 ``dc_catching_up``, so clients use another DC.

Caught up means, for every stream: the projector has applied at least the stream's last sequence
as the stream's leader reported it when the gateway started, and the reader has read its local
replica to the end once. The second condition alone covers a start without a leader (no quorum:
nothing new can be written anyway). Once caught up the gateway stays serving: from then on it
trails the log by milliseconds, like any serving DC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from firebreak.adapters.replica_reader import ReplicaReader
from firebreak.service.projector import Projector


class Readiness:
    def __init__(self, projector: Projector, readers: Sequence[ReplicaReader], targets: Mapping[str, int]):
        self._projector = projector
        self._readers = readers
        #: stream -> last sequence at the leader when the gateway started (0 if it could not ask)
        self.targets = dict(targets)
        self._caught_up = False

    def caught_up(self) -> bool:
        if not self._caught_up:
            head = self._projector.head
            self._caught_up = all(r.reached_end for r in self._readers) and all(
                head.get(stream, 0) >= seq for stream, seq in self.targets.items()
            )
        return self._caught_up

    def progress(self) -> str:
        applied = sum(self._projector.head.get(s, 0) for s in self.targets)
        return f"applied {applied:,} of {sum(self.targets.values()):,} log entries"
