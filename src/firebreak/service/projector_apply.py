"""Applies a batch of log entries to a DC's read model for the projector (service/projector.py):
decodes each entry, runs the projection or the ledger, and writes the new log positions."""

from __future__ import annotations

import logging

import msgspec

from firebreak.adapters.replica_reader import Entry
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.domain.events import Event, decode_account_event, decode_room_event, decode_wallet_event
from firebreak.domain.ids import ACCOUNTS_STREAM, WALLETS_STREAM, room_stream
from firebreak.domain.ledger import Ledger
from firebreak.domain.model import Applied
from firebreak.domain.projection import Projection

log = logging.getLogger(__name__)


class BatchApplier:
    """The projector's applying step; it never commits (the projector owns the transactions)."""

    def __init__(self, store: SqliteStore, partitions: int, observing: bool) -> None:
        self._store = store
        self._projection = Projection(store)
        self._ledger = Ledger(store.wallets)
        self.room_streams = {room_stream(p): p for p in range(partitions)}
        self._observing = observing
        #: Every event of the batches applied since the projector last took them (decoded,
        #: accepted by the rules or not), when the projector has someone to tell.
        self.observed: list[Event] = []
        #: Each session ended by those batches (user id, session id).
        self.revocations: list[tuple[str, str]] = []

    def apply(self, batch: list[Entry]) -> tuple[list[Applied], dict[str, int]]:
        """Applies a batch inside the caller's transaction; returns the accepted events and the
        last sequence of each stream in the batch (written as the new positions)."""
        out: list[Applied] = []
        projection = self._projection
        observing, observed = self._observing, self.observed
        for stream, seq, data in batch:
            try:
                if stream == ACCOUNTS_STREAM:
                    account_event = decode_account_event(data)
                    for session_id in projection.apply_account(account_event):
                        self.revocations.append((account_event.user_id, session_id))
                    if observing:
                        observed.append(account_event)
                elif stream == WALLETS_STREAM:
                    # Not observed: the write limits count room and profile writes only.
                    self._ledger.apply(seq, decode_wallet_event(data))
                else:
                    partition = self.room_streams[stream]
                    room_event = decode_room_event(data)
                    applied = projection.apply_room(partition, seq, room_event)
                    if applied is not None:
                        out.append(applied)
                    if observing:
                        observed.append(room_event)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                # Skipped identically in every DC: the same bytes fail the same way everywhere.
                log.error("skipping undecodable entry %s#%d: %s", stream, seq, exc)
        last = {stream: seq for stream, seq, _ in batch}  # entries of a stream arrive in order
        for stream, seq in last.items():
            self._store.set_position(stream, seq)
        return out, last

    def forget(self) -> None:
        """Drops what rolled-back batches left behind: cached rows, revocations, observed events."""
        self._projection.forget_cache()
        self.revocations.clear()
        self.observed.clear()
