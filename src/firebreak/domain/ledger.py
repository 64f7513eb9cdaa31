"""The wallet ledger's projection: how wallet events change balances. Deterministic, no I/O.

Every wallet event lives in the one WALLETS stream, so each DC applies the whole ledger in the
same order, and the rules below may look at any wallet's state: it was built from earlier entries
of that same stream. The projection is the authority on every transfer: the gateway's own check
only spares the log a request that would be refused anyway. So two DCs that accept transfers from
one wallet at the same moment cannot overdraw it: both land in the log, one after the other, and
the second is refused here, identically in every DC (docs/PAYMENTS.md).

Invariants (tests/test_ledger_property.py):

* a balance is never negative;
* the sum of all balances equals the sum of accepted faucet credits, after every event;
* a (payer, client_id) is decided once: the first transfer with it in the log is the outcome,
  any later copy changes nothing;
* each wallet's history is a sequence of entries whose running balance is the previous one plus
  the entry's delta.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from firebreak.domain.events import TransferMade, WalletCredited, WalletEvent

#: Largest amount of one transfer or credit, in minor units: part of the rules (every DC agrees).
#: A gateway may enforce a lower limit (config.Limits.max_transfer_amount).
MAX_AMOUNT = 10**12
#: Largest total of money in the ledger: keeps every balance far inside SQLite's 64-bit integers.
MAX_SUPPLY = 10**15

#: A transfer's or credit's outcome.
Status = Literal["accepted", "insufficient_funds", "invalid_amount", "self_transfer", "supply_exceeded"]
#: What an entry in a wallet's history is.
EntryKind = Literal["faucet", "sent", "received"]
#: The key spaces of decided operations: a payer's transfers, a wallet's faucet credits.
OpKind = Literal["transfer", "faucet"]


class Op(msgspec.Struct, frozen=True):
    """A decided transfer (keyed by payer and client_id) or faucet credit (by wallet and
    request_id): what the first copy in the log was and what became of it."""

    wallet: str
    kind: OpKind
    key: str
    seq: int
    counterparty: str
    amount: int
    status: Status
    at: int
    room_id: str | None


class WalletStore(Protocol):
    """What the ledger needs from a read model; writes join the caller's transaction."""

    def balance(self, user_id: str) -> int:
        """0 for a wallet never seen."""
        ...

    def supply(self) -> int:
        """The sum of accepted faucet credits so far."""
        ...

    def record_op(self, op: Op) -> bool:
        """Stores ``op`` unless one with its (wallet, kind, key) exists; returns whether it stored."""
        ...

    def add_entry(
        self,
        user_id: str,
        seq: int,
        kind: EntryKind,
        counterparty: str,
        delta: int,
        key: str,
        at: int,
        room_id: str | None,
    ) -> int:
        """Appends an entry to the wallet's history and moves its balance by ``delta``; returns
        the new balance."""
        ...


class Ledger:
    def __init__(self, store: WalletStore) -> None:
        self._store = store

    def apply(self, seq: int, event: WalletEvent) -> Op | None:
        """Applies one wallet event at stream position ``seq``; returns the decided operation, or
        None when it repeats one decided earlier (nothing changes)."""
        store = self._store
        match event:
            case WalletCredited():
                status: Status = "accepted"
                if not 1 <= event.amount <= MAX_AMOUNT:
                    status = "invalid_amount"
                elif store.supply() + event.amount > MAX_SUPPLY:
                    status = "supply_exceeded"
                op = Op(
                    event.user_id, "faucet", event.request_id, seq, "", event.amount, status, event.at, None
                )
                if not store.record_op(op):
                    return None
                if status == "accepted":
                    store.add_entry(
                        event.user_id, seq, "faucet", "", event.amount, event.request_id, event.at, None
                    )
                return op
            case TransferMade():
                if not 1 <= event.amount <= MAX_AMOUNT:
                    status = "invalid_amount"
                elif event.payer == event.payee:
                    status = "self_transfer"
                elif store.balance(event.payer) < event.amount:
                    status = "insufficient_funds"
                else:
                    status = "accepted"
                op = Op(
                    event.payer,
                    "transfer",
                    event.client_id,
                    seq,
                    event.payee,
                    event.amount,
                    status,
                    event.at,
                    event.room_id,
                )
                if not store.record_op(op):
                    return None
                if status == "accepted":
                    key, at, room = event.client_id, event.at, event.room_id
                    store.add_entry(event.payer, seq, "sent", event.payee, -event.amount, key, at, room)
                    store.add_entry(event.payee, seq, "received", event.payer, event.amount, key, at, room)
                return op
