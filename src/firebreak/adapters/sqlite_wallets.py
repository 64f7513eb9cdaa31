"""The wallet ledger's tables in a DC's read model: the ledger's store and its queries.

They live in the same SQLite file and connection as the rest of the read model, so a batch's
wallet rows commit together with the batch's log positions (sqlite_store.py).
"""

from __future__ import annotations

import sqlite3

import msgspec

from firebreak.domain.ledger import EntryKind, Op, OpKind

WALLET_SCHEMA = """
CREATE TABLE IF NOT EXISTS wallets(
    user_id TEXT PRIMARY KEY, balance INTEGER NOT NULL, entries INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wallet_entries(
    user_id TEXT NOT NULL, n INTEGER NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    counterparty TEXT NOT NULL, delta INTEGER NOT NULL, balance INTEGER NOT NULL, key TEXT NOT NULL,
    at INTEGER NOT NULL, room_id TEXT,
    PRIMARY KEY(user_id, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wallet_ops(
    wallet TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,
    counterparty TEXT NOT NULL, amount INTEGER NOT NULL, status TEXT NOT NULL, at INTEGER NOT NULL,
    room_id TEXT,
    PRIMARY KEY(wallet, kind, key)) WITHOUT ROWID;
"""

#: Wallet tables every DC must hold identically (sqlite_queries.DIGEST_TABLES adds them).
WALLET_DIGEST_TABLES = {
    "wallets": "user_id",
    "wallet_entries": "user_id, n",
    "wallet_ops": "wallet, kind, key",
}

_OP_COLS = "wallet, kind, key, seq, counterparty, amount, status, at, room_id"
_ENTRY_COLS = "n, seq, kind, counterparty, delta, balance, key, at, room_id"


class EntryRow(msgspec.Struct, frozen=True):
    n: int
    seq: int
    kind: EntryKind
    counterparty: str
    delta: int
    balance: int
    key: str
    at: int
    room_id: str | None


class WalletRow(msgspec.Struct, frozen=True):
    balance: int
    entries: int


class SqliteWallets:
    """Implements :class:`firebreak.domain.ledger.WalletStore` and the wallet queries over the read
    model's connection. Holds no cache, so a rolled-back batch leaves nothing behind here."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    # ---- the ledger's store -------------------------------------------------------------------

    def balance(self, user_id: str) -> int:
        row = self._db.execute("SELECT balance FROM wallets WHERE user_id=?", (user_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def supply(self) -> int:
        row = self._db.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM wallet_ops WHERE kind='faucet' AND status='accepted'"
        ).fetchone()
        return int(row[0])

    def record_op(self, op: Op) -> bool:
        cur = self._db.execute(
            f"INSERT INTO wallet_ops({_OP_COLS}) VALUES(?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(wallet, kind, key) DO NOTHING",
            (op.wallet, op.kind, op.key, op.seq, op.counterparty, op.amount, op.status, op.at, op.room_id),
        )
        return cur.rowcount == 1

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
        row = self._db.execute(
            "INSERT INTO wallets VALUES(?, ?, 1) ON CONFLICT(user_id) DO UPDATE SET "
            "balance=balance+excluded.balance, entries=entries+1 RETURNING balance, entries",
            (user_id, delta),
        ).fetchone()
        balance, n = int(row[0]), int(row[1])
        self._db.execute(
            f"INSERT INTO wallet_entries(user_id, {_ENTRY_COLS}) VALUES(?,?,?,?,?,?,?,?,?,?)",
            (user_id, n, seq, kind, counterparty, delta, balance, key, at, room_id),
        )
        return balance

    # ---- queries ------------------------------------------------------------------------------

    def op(self, wallet: str, kind: OpKind, key: str) -> Op | None:
        row = self._db.execute(
            f"SELECT {_OP_COLS} FROM wallet_ops WHERE wallet=? AND kind=? AND key=?", (wallet, kind, key)
        ).fetchone()
        return None if row is None else Op(*row)

    def wallet(self, user_id: str) -> WalletRow:
        row = self._db.execute("SELECT balance, entries FROM wallets WHERE user_id=?", (user_id,)).fetchone()
        return WalletRow(0, 0) if row is None else WalletRow(int(row[0]), int(row[1]))

    def entry_at(self, user_id: str, seq: int) -> EntryRow | None:
        """The wallet's entry made by the event at stream position ``seq``."""
        row = self._db.execute(
            f"SELECT {_ENTRY_COLS} FROM wallet_entries WHERE user_id=? AND seq=?", (user_id, seq)
        ).fetchone()
        return None if row is None else EntryRow(*row)

    def history_before(self, user_id: str, before: int | None, limit: int) -> list[EntryRow]:
        """Up to ``limit`` entries numbered below ``before`` (None: the newest), newest first."""
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLS} FROM wallet_entries WHERE user_id=? AND n<? ORDER BY n DESC LIMIT ?",
            (user_id, before if before is not None else 2**62, limit),
        )
        return [EntryRow(*r) for r in rows]

    def history_after(self, user_id: str, after: int, limit: int) -> list[EntryRow]:
        """Up to ``limit`` entries numbered above ``after``, oldest first."""
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLS} FROM wallet_entries WHERE user_id=? AND n>? ORDER BY n LIMIT ?",
            (user_id, after, limit),
        )
        return [EntryRow(*r) for r in rows]

    def balances(self) -> dict[str, int]:
        """Every wallet's balance (the ledger check and the drill compare them across DCs)."""
        return {u: int(b) for u, b in self._db.execute("SELECT user_id, balance FROM wallets")}

    def outcomes(self) -> dict[tuple[str, str, str], str]:
        """(wallet, kind, key) -> status of every decided transfer and credit."""
        return {
            (w, k, key): s
            for w, k, key, s in self._db.execute("SELECT wallet, kind, key, status FROM wallet_ops")
        }

    def totals(self) -> tuple[int, int, int]:
        """(sum of balances, sum of accepted faucet credits, lowest balance): the ledger check."""
        balances, lowest = self._db.execute(
            "SELECT COALESCE(SUM(balance), 0), COALESCE(MIN(balance), 0) FROM wallets"
        ).fetchone()
        return int(balances), self.supply(), int(lowest)
