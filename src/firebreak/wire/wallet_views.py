"""What the wallet API returns and takes (docs/PAYMENTS.md), shared by the gateway and the client."""

from __future__ import annotations

import msgspec


class TransferView(msgspec.Struct, frozen=True):
    """An accepted transfer: the first result for its client_id, whichever DC answers."""

    client_id: str
    #: The payee's username and user id.
    to: str
    to_user_id: str
    amount: int
    #: The transfer's position in the WALLETS stream: the same in every DC.
    seq: int
    at: int
    #: The payer's balance right after this transfer.
    balance: int
    #: True when this client_id had been used before: the first result, nothing new was moved.
    duplicate: bool
    #: The room the transfer was made in (it shows there as a message), if any.
    room_id: str | None = None


class WalletView(msgspec.Struct, frozen=True):
    """The caller's wallet as this DC's read model has it."""

    user_id: str
    balance: int
    #: Entries in the wallet's history (the newest one's number).
    entries: int
    #: How far this DC has applied the WALLETS stream: pass it as ``at_least`` to another DC so
    #: that a read there never shows an older state.
    position: int


class WalletEntryView(msgspec.Struct, frozen=True):
    #: The entry's number in the wallet's history (1, 2, 3, ...).
    n: int
    #: Its position in the WALLETS stream.
    seq: int
    #: faucet, sent or received
    kind: str
    #: The other wallet's username and id ("" for a faucet credit).
    counterparty: str
    counterparty_id: str
    #: Signed change of the balance.
    delta: int
    #: The balance right after this entry.
    balance: int
    #: The transfer's client_id, or the faucet credit's request_id.
    key: str
    at: int


class WalletHistory(msgspec.Struct, frozen=True):
    entries: list[WalletEntryView]
    #: True if older (backwards pages) or newer (forwards) entries exist beyond this page.
    more: bool
    position: int


class CreditView(msgspec.Struct, frozen=True):
    """A faucet credit (operators only)."""

    user_id: str
    amount: int
    request_id: str
    seq: int
    balance: int
    duplicate: bool


class LedgerTotals(msgspec.Struct, frozen=True):
    """The ledger check at this DC's position: ``balances`` must equal ``credited`` and
    ``lowest`` must not be negative."""

    dc: str
    position: int
    balances: int
    credited: int
    lowest: int
    wallets: int


WALLET_VIEWS: tuple[type[msgspec.Struct], ...] = (
    TransferView,
    WalletView,
    WalletEntryView,
    WalletHistory,
    CreditView,
    LedgerTotals,
)
