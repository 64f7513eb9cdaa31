"""The verdict of a bank drill, from what the clients were told and what every serving DC holds. Pure.

Inputs: the transfers with the answer each client got, the faucet credits, every wallet's whole
history at every serving DC (entries with their log position, delta and running balance), the
ledger totals each DC reports, and the movers' reads. The rules (docs/PAYMENTS.md):

* total conserved at every DC, at every log position: each transfer's entries sum to zero, the
  faucet entries are the credits given, the sum of balances is the sum of credits;
* no negative balance ever: no entry's running balance is below zero, and each running balance is
  the previous one plus the entry's delta;
* each acknowledged transfer applied exactly once at every DC (one debit, one credit, the amount
  and the log position the client was told);
* no refused transfer applied, and no transfer applied that no client asked for;
* every DC holds the same histories;
* a mover's reads, at whichever DC, never show an older state than its previous read.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import msgspec

from firebreak.drill.bank import TransferRecord, WalletRead
from firebreak.wire.wallet_views import LedgerTotals, WalletEntryView

#: dc -> wallet id -> entries
Histories = dict[str, dict[str, list[WalletEntryView]]]


class BankVerdict(msgspec.Struct):
    transfers: int
    accepted: int
    refused: int
    failed: int
    #: DCs whose sum of balances differs from the credits, or where a transfer created or
    #: destroyed money at some log position
    total_not_conserved: int
    #: entries whose running balance is negative or does not follow from the previous one
    negative_or_broken_balances: int
    #: acknowledged transfers missing (or incomplete) at some serving DC
    lost: int
    #: transfers applied more than once at some DC
    doubled: int
    #: acknowledged at another log position or amount than the one stored
    wrong_position: int
    #: transfers refused to the client but applied at some DC
    refused_but_applied: int
    #: entries that no client's transfer or faucet credit explains
    unrequested: int
    #: wallets whose history differs between serving DCs
    histories_differ: int
    #: a mover's read that showed an older position, balance history or count than its last one
    reads_went_back: int
    reads: int
    dcs_compared: list[str]
    #: not answered (failed or cancelled) but applied anyway: allowed, reported for honesty
    unanswered_but_applied: int
    passed: bool


class BankFindings(msgspec.Struct):
    verdict: BankVerdict
    totals: list[LedgerTotals]
    examples: dict[str, list[str]]
    #: transfers that were not answered, by the error the client finally got
    errors: dict[str, int]


def check(
    *,
    transfers: list[TransferRecord],
    credits: dict[str, int],
    histories: Histories,
    totals: list[LedgerTotals],
    reads: list[WalletRead],
) -> BankFindings:
    examples: dict[str, list[str]] = defaultdict(list)

    def note(kind: str, what: str) -> None:
        if len(examples[kind]) < 5:
            examples[kind].append(what)

    by_key = {(t.payer, t.client_id): t for t in transfers}
    bad_total = bad_balance = lost = doubled = wrong = refused_applied = unrequested = unanswered = 0
    for dc, wallets in sorted(histories.items()):
        per_seq: dict[int, int] = defaultdict(int)
        faucet: dict[str, int] = defaultdict(int)
        applied: Counter[tuple[str, str, str]] = Counter()
        for wallet, entries in wallets.items():
            running = 0
            for e in entries:
                running += e.delta
                if e.balance != running or e.balance < 0:
                    bad_balance += 1
                    note("negative_or_broken_balances", f"{dc} {wallet} #{e.n}: {e.balance} after {e.delta}")
                if e.kind == "faucet":
                    faucet[wallet] += e.delta
                    continue
                per_seq[e.seq] += e.delta
                payer = wallet if e.kind == "sent" else e.counterparty_id
                applied[(payer, e.key, e.kind)] += 1
                t = by_key.get((payer, e.key))
                if t is None:
                    unrequested += 1
                    note("unrequested", f"{dc} {e.kind} {payer}/{e.key} {e.delta}")
                elif t.outcome == "refused":
                    refused_applied += 1
                    note("refused_but_applied", f"{dc} {payer}/{e.key}")
                elif t.outcome == "accepted" and (e.seq != t.seq or abs(e.delta) != t.amount):
                    wrong += 1
                    note(
                        "wrong_position",
                        f"{dc} {payer}/{e.key}: told #{t.seq} {t.amount}, has #{e.seq} {e.delta}",
                    )
        created = sum(1 for v in per_seq.values() if v != 0)
        balances = sum(entries[-1].balance for entries in wallets.values() if entries)
        if (
            created
            or dict(faucet) != {w: c for w, c in credits.items() if c}
            or balances != sum(credits.values())
        ):
            bad_total += 1
            note(
                "total_not_conserved",
                f"{dc}: {created} positions create or destroy money, balances {balances}",
            )
        for (payer, key, kind), count in applied.items():
            if count > 1:
                doubled += 1
                note("doubled", f"{dc} {kind} {payer}/{key} x{count}")
        for t in transfers:
            if t.outcome == "accepted":
                if (
                    applied[(t.payer, t.client_id, "sent")] == 0
                    or applied[(t.payer, t.client_id, "received")] == 0
                ):
                    lost += 1
                    note("lost", f"{dc} {t.payer}/{t.client_id} #{t.seq}")
            elif t.outcome not in ("refused",) and applied[(t.payer, t.client_id, "sent")]:
                unanswered += 1
    for reported in totals:
        if reported.balances != reported.credited or reported.lowest < 0:
            bad_total += 1
            note(
                "total_not_conserved",
                f"{reported.dc} reports balances {reported.balances}, credited {reported.credited}",
            )

    differ = 0
    dcs = sorted(histories)
    if dcs:
        first = histories[dcs[0]]
        for wallet in set().union(*(h.keys() for h in histories.values())):
            if any(histories[dc].get(wallet, []) != first.get(wallet, []) for dc in dcs[1:]):
                differ += 1
                note("histories_differ", wallet)

    back = 0
    last: dict[str, WalletRead] = {}
    for r in sorted(reads, key=lambda r: r.at):
        prev = last.get(r.wallet)
        if prev is not None and (r.position < prev.position or r.entries < prev.entries):
            back += 1
            note(
                "reads_went_back",
                f"{r.wallet} at {r.dc}: #{r.position} {r.entries} "
                f"after #{prev.position} {prev.entries} at {prev.dc}",
            )
        last[r.wallet] = r

    outcomes = Counter(t.outcome for t in transfers)
    verdict = BankVerdict(
        transfers=len(transfers),
        accepted=outcomes["accepted"],
        refused=outcomes["refused"],
        failed=len(transfers) - outcomes["accepted"] - outcomes["refused"],
        total_not_conserved=bad_total,
        negative_or_broken_balances=bad_balance,
        lost=lost,
        doubled=doubled,
        wrong_position=wrong,
        refused_but_applied=refused_applied,
        unrequested=unrequested,
        histories_differ=differ,
        reads_went_back=back,
        reads=len(reads),
        dcs_compared=dcs,
        unanswered_but_applied=unanswered // max(1, len(dcs)),
        passed=False,
    )
    verdict.passed = not any(
        (bad_total, bad_balance, lost, doubled, wrong, refused_applied, unrequested, differ, back)
    ) and bool(dcs)
    errors = Counter(t.outcome for t in transfers if t.outcome not in ("accepted", "refused"))
    return BankFindings(verdict=verdict, totals=totals, examples=dict(examples), errors=dict(errors))
