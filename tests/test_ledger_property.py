"""Properties of the wallet ledger's projection (domain/ledger.py) over a real read model.

Hypothesis generates what concurrent clients at several DCs could put into the WALLETS stream:
faucet credits, transfers of any amount (overdrafts, zero, negative, too large, to oneself), and
retries of either (the same key again, sometimes with another body, as a client racing itself
through two DCs would). Whatever the interleaving:

* the read model equals an independent sequential replay of the same log (balances and every
  decided operation's outcome);
* after every single event the total of balances equals the faucet credits and no balance is
  negative;
* each wallet's history adds up: every entry's running balance is the previous one plus its delta;
* applying in other batch sizes, interleaved with another stream, through the serving or the
  catching-up path, gives identical tables.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.domain import events as ev
from firebreak.domain.ids import WALLETS_STREAM, room_stream
from firebreak.domain.ledger import MAX_AMOUNT, MAX_SUPPLY
from firebreak.service.projector import Projector

USERS = ["u1", "u2", "u3", "u4"]
KEYS = ["k1", "k2", "k3", "k4", "k5", "k6"]

user = st.sampled_from(USERS)
amount = st.one_of(st.integers(1, 60), st.sampled_from([0, -5, MAX_AMOUNT, MAX_AMOUNT + 1]))

credit = st.builds(
    lambda u, a, k: ev.WalletCredited(v=1, at=1, user_id=u, amount=a, request_id=k),
    user,
    st.one_of(st.integers(1, 100), st.sampled_from([0, MAX_AMOUNT])),
    st.sampled_from(KEYS),
)
transfer = st.builds(
    lambda p, q, a, k: ev.TransferMade(v=1, at=2, payer=p, payee=q, amount=a, client_id=k),
    user,
    user,
    amount,
    st.sampled_from(KEYS),
)
wallet_event = st.one_of(credit, transfer, transfer)


def _reference(events: list[ev.WalletEvent]) -> tuple[dict[str, int], dict[tuple[str, str, str], str]]:
    """The ledger's rules replayed one event at a time with plain dicts: (balances, outcomes)."""
    balances: dict[str, int] = {}
    outcomes: dict[tuple[str, str, str], str] = {}
    supply = 0
    for e in events:
        if isinstance(e, ev.WalletCredited):
            key = (e.user_id, "faucet", e.request_id)
            if key in outcomes:
                continue
            if not 1 <= e.amount <= MAX_AMOUNT:
                outcomes[key] = "invalid_amount"
            elif supply + e.amount > MAX_SUPPLY:
                outcomes[key] = "supply_exceeded"
            else:
                outcomes[key] = "accepted"
                supply += e.amount
                balances[e.user_id] = balances.get(e.user_id, 0) + e.amount
        else:
            key = (e.payer, "transfer", e.client_id)
            if key in outcomes:
                continue
            if not 1 <= e.amount <= MAX_AMOUNT:
                outcomes[key] = "invalid_amount"
            elif e.payer == e.payee:
                outcomes[key] = "self_transfer"
            elif balances.get(e.payer, 0) < e.amount:
                outcomes[key] = "insufficient_funds"
            else:
                outcomes[key] = "accepted"
                balances[e.payer] -= e.amount
                balances[e.payee] = balances.get(e.payee, 0) + e.amount
    return balances, outcomes


def _model() -> tuple[Projector, SqliteStore, Queries]:
    conn = sqlite_store.connect(":memory:")
    store = SqliteStore(conn)
    return Projector(store, 1, lambda applied: None), store, Queries(conn)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(wallet_event, max_size=40), retries=st.lists(st.integers(0, 39), max_size=10))
def test_any_interleaving_equals_sequential_replay(events: list[ev.WalletEvent], retries: list[int]) -> None:
    # Retries: the same event again later in the log (a client repeating it at another DC).
    log_events = [*events, *(events[i] for i in retries if i < len(events))]
    projector, store, _ = _model()
    wallets = store.wallets
    for seq, event in enumerate(log_events, start=1):
        projector.apply_batch([(WALLETS_STREAM, seq, ev.encode(event))])
        total, supply, lowest = wallets.totals()
        assert total == supply, f"money created or lost at #{seq}"
        assert lowest >= 0, f"negative balance at #{seq}"

    balances, outcomes = _reference(log_events)
    assert wallets.balances() == balances
    assert wallets.outcomes() == outcomes

    for u in USERS:
        running = 0
        for entry in wallets.history_after(u, 0, 1000):
            running += entry.delta
            assert entry.balance == running >= 0
        assert running == wallets.balance(u)


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(wallet_event, max_size=30),
    rooms=st.integers(0, 10),
    cuts=st.lists(st.integers(1, 6), max_size=12),
    data=st.data(),
)
def test_batches_and_paths_give_identical_tables(
    events: list[ev.WalletEvent], rooms: int, cuts: list[int], data: st.DataObject
) -> None:
    wallet_log = [(WALLETS_STREAM, i, ev.encode(e)) for i, e in enumerate(events, start=1)]
    room_log = [
        (room_stream(0), i, ev.encode(ev.RoomRenamed(v=1, at=1, room_id="g_x", by="u1", name="x")))
        for i in range(1, rooms + 1)
    ]

    def batches(entries: list[tuple[str, int, bytes]]) -> list[list[tuple[str, int, bytes]]]:
        out, i = [], 0
        for cut in [*cuts, len(entries)]:
            if i >= len(entries):
                break
            out.append(entries[i : i + cut])
            i += cut
        return out

    rebuilt, _, q1 = _model()
    if wallet_log or room_log:
        rebuilt.apply_batch([*wallet_log, *room_log])

    order = data.draw(st.permutations([0] * len(wallet_log) + [1] * len(room_log)))
    queues = [list(wallet_log), list(room_log)]
    interleaved = [queues[which].pop(0) for which in order]
    batched, _, q2 = _model()
    for batch in batches(interleaved):
        batched.apply_batch(batch)

    serving, _, q3 = _model()
    catching_up, _, q4 = _model()

    async def run() -> None:
        for batch in batches(interleaved):
            serving.apply_batch_open(batch)
            if data.draw(st.booleans()):
                serving.commit()
        serving.close()
        for batch in batches(interleaved):
            await catching_up.apply_batch_catching_up(batch)

    asyncio.run(run())
    assert q1.digest() == q2.digest() == q3.digest() == q4.digest()
    assert rebuilt.head == batched.head == serving.head == catching_up.head
