"""The bank drill's checker (drill/bank_checker.py) on hand-made records: a clean run passes and
each kind of fault (a doubled transfer, a lost one, a refused one applied, money created, a read
that went back, DCs that disagree) fails the verdict under its own name."""

from __future__ import annotations

import msgspec

from firebreak.drill.bank import TransferRecord, WalletRead
from firebreak.drill.bank_checker import BankVerdict, Histories, check
from firebreak.wire.wallet_views import LedgerTotals, WalletEntryView

A, B = "u_a", "u_b"
CREDITS = {A: 100, B: 100}


def entry(n: int, seq: int, kind: str, other: str, delta: int, balance: int, key: str) -> WalletEntryView:
    return WalletEntryView(
        n=n,
        seq=seq,
        kind=kind,
        counterparty="",
        counterparty_id=other,
        delta=delta,
        balance=balance,
        key=key,
        at=0,
    )


def clean() -> tuple[list[TransferRecord], dict[str, list[WalletEntryView]], list[WalletRead]]:
    transfers = [
        TransferRecord(A, B, 30, "t1", 0.0, outcome="accepted", seq=3),
        TransferRecord(B, A, 500, "t2", 0.0, outcome="refused"),
        TransferRecord(B, A, 10, "t3", 0.0, outcome="accepted", seq=5),
    ]
    wallets = {
        A: [
            entry(1, 1, "faucet", "", 100, 100, "seed"),
            entry(2, 3, "sent", B, -30, 70, "t1"),
            entry(3, 5, "received", B, 10, 80, "t3"),
        ],
        B: [
            entry(1, 2, "faucet", "", 100, 100, "seed"),
            entry(2, 3, "received", A, 30, 130, "t1"),
            entry(3, 5, "sent", A, -10, 120, "t3"),
        ],
    }
    reads = [WalletRead(A, "dc1", 1.0, 3, 70, 2), WalletRead(A, "dc2", 2.0, 5, 80, 3)]
    return transfers, wallets, reads


def verdict(
    transfers: list[TransferRecord],
    per_dc: Histories,
    reads: list[WalletRead],
    totals: list[LedgerTotals] | None = None,
) -> BankVerdict:
    reported = totals or [LedgerTotals(dc, 5, 200, 200, 80, 2) for dc in per_dc]
    return check(transfers=transfers, credits=CREDITS, histories=per_dc, totals=reported, reads=reads).verdict


def three(wallets: dict[str, list[WalletEntryView]]) -> Histories:
    return {dc: {w: list(es) for w, es in wallets.items()} for dc in ("dc1", "dc2", "dc3")}


def test_a_clean_run_passes() -> None:
    transfers, wallets, reads = clean()
    v = verdict(transfers, three(wallets), reads)
    assert v.passed, v
    assert (v.accepted, v.refused, v.failed) == (2, 1, 0)


def failing(v: BankVerdict) -> set[str]:
    fields = (
        "total_not_conserved", "negative_or_broken_balances", "lost", "doubled", "wrong_position",
        "refused_but_applied", "unrequested", "histories_differ", "reads_went_back",
    )  # fmt: skip
    assert not v.passed
    return {f for f in fields if getattr(v, f)}


def test_a_doubled_transfer_fails() -> None:
    transfers, wallets, reads = clean()
    per_dc = three(wallets)
    per_dc["dc2"][A].append(entry(4, 7, "sent", B, -30, 50, "t1"))
    per_dc["dc2"][B].append(entry(4, 7, "received", A, 30, 150, "t1"))
    assert {"doubled", "wrong_position", "histories_differ"} <= failing(verdict(transfers, per_dc, reads))


def test_a_lost_transfer_fails() -> None:
    transfers, wallets, reads = clean()
    per_dc = three(wallets)
    del per_dc["dc3"][B][1]
    assert {"lost", "histories_differ", "negative_or_broken_balances", "total_not_conserved"} <= failing(
        verdict(transfers, per_dc, reads)
    )


def test_a_refused_transfer_applied_and_unrequested_money_fail() -> None:
    transfers, wallets, reads = clean()
    wallets[B].append(entry(4, 6, "sent", A, -50, 70, "t2"))
    wallets[A].append(entry(4, 6, "received", B, 50, 130, "t2"))
    wallets[A].append(entry(5, 8, "faucet", "", 1, 131, "minted"))
    assert failing(verdict(transfers, three(wallets), reads)) == {
        "refused_but_applied",
        "total_not_conserved",
    }
    transfers, wallets, reads = clean()
    wallets[A].append(entry(4, 9, "sent", B, -80, 0, "nobody"))
    wallets[B].append(entry(4, 9, "received", A, 80, 200, "nobody"))
    assert failing(verdict(transfers, three(wallets), reads)) == {"unrequested"}


def test_negative_balances_reported_totals_and_reads_going_back_fail() -> None:
    transfers, wallets, reads = clean()
    overdrawn = msgspec.structs.replace(wallets[A][1], delta=-130, balance=-30)
    wallets[A][1] = overdrawn
    assert "negative_or_broken_balances" in failing(verdict(transfers, three(wallets), reads))
    transfers, wallets, reads = clean()
    bad_totals = [LedgerTotals("dc1", 5, 201, 200, 80, 2)]
    assert failing(verdict(transfers, three(wallets), reads, bad_totals)) == {"total_not_conserved"}
    back = [*reads, WalletRead(A, "dc3", 3.0, 3, 70, 2)]
    assert failing(verdict(transfers, three(wallets), back)) == {"reads_went_back"}
