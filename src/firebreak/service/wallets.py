"""Wallet commands and queries: transfers, the faucet, balances and history (docs/PAYMENTS.md).

The ledger's projection (domain/ledger.py) decides every transfer at its position in the one
WALLETS stream; this use case appends the request and answers with what the projection decided.
Its own checks only spare the log requests that would be refused anyway, after a barrier, so a
stale read model never refuses what the log would accept.
"""

from __future__ import annotations

import hashlib

from firebreak.adapters.nats_log import AppendAck, Log
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_wallets import EntryRow, SqliteWallets
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.ids import WALLETS_STREAM, credit_dedupe_id, transfer_dedupe_id, wallet_subject
from firebreak.domain.ledger import Op
from firebreak.domain.validation import check_client_id, check_position
from firebreak.errors import BadRequest, Conflict, FirebreakError
from firebreak.service.accounts import Accounts, now_ms
from firebreak.service.messages import Messages
from firebreak.service.room_queries import RoomQueries
from firebreak.service.sync import Freshness
from firebreak.wire.wallet_views import (
    CreditView,
    LedgerTotals,
    TransferView,
    WalletEntryView,
    WalletHistory,
    WalletView,
)


def insufficient_funds() -> Conflict:
    return Conflict("the wallet's balance does not cover this transfer", code="insufficient_funds")


def _refusal(op: Op) -> FirebreakError:
    """The error for a transfer the ledger refused (the same for every repeat of it)."""
    if op.status == "insufficient_funds":
        return insufficient_funds()
    if op.status == "self_transfer":
        return BadRequest("a transfer needs another wallet", code="self_transfer")
    return BadRequest(f"the ledger refused the amount ({op.status})", code="invalid_amount")


class Wallets:
    def __init__(
        self,
        config: Config,
        log: Log,
        queries: Queries,
        wallets: SqliteWallets,
        fresh: Freshness,
        accounts: Accounts,
        dc: str,
        messages: Messages,
        room_queries: RoomQueries,
    ) -> None:
        self._limits = config.limits
        self._log = log
        self._q = queries
        self._w = wallets
        self._fresh = fresh
        self._accounts = accounts
        self._dc = dc
        self._messages = messages
        self._room_queries = room_queries

    def _amount(self, amount: int, limit: int) -> int:
        if isinstance(amount, bool) or not 1 <= amount <= limit:
            raise BadRequest(
                f"amount must be a whole number of minor units, 1-{limit}", code="invalid_amount"
            )
        return amount

    async def _append(self, user_id: str, event: ev.WalletEvent, msg_id: str) -> AppendAck:
        appended = await self._log.append(wallet_subject(user_id), ev.encode(event), msg_id)
        await self._fresh.until_applied(appended)
        return appended

    # ---- transfers ----------------------------------------------------------------------------

    async def transfer(
        self, me: str, client_id: str, to: str, amount: int, room_id: str | None = None
    ) -> TransferView:
        """Moves ``amount`` from ``me`` to the user named ``to`` once per (me, client_id), whatever
        the retries and whichever DC they reach: a repeat answers the first result. With
        ``room_id`` (a room both are members of) the transfer is also shown there as a message."""
        check_client_id(client_id)
        self._amount(amount, self._limits.max_transfer_amount)
        (payee,) = await self._accounts.resolve([to])
        if room_id is not None:
            await self._room_queries.member_room(room_id, me)
            await self._room_queries.member_room(room_id, payee)
        op = self._w.op(me, "transfer", client_id)
        if op is None and payee == me:
            raise BadRequest("a transfer needs another wallet", code="self_transfer")
        if op is None and self._w.balance(me) < amount:
            # This DC may not have applied a credit yet: look again at the leader's position. The
            # same barrier shows a first attempt of this client_id that was made at another DC.
            await self._fresh.barrier(WALLETS_STREAM)
            op = self._w.op(me, "transfer", client_id)
            if op is None and self._w.balance(me) < amount:
                raise insufficient_funds()  # nothing is appended: a later retry is decided anew
        duplicate = op is not None
        if op is None:
            event = ev.TransferMade(
                v=1, at=now_ms(), payer=me, payee=payee, amount=amount, client_id=client_id, room_id=room_id
            )
            appended = await self._append(me, event, transfer_dedupe_id(me, client_id))
            op = self._w.op(me, "transfer", client_id)
            assert op is not None, "an applied transfer is decided"
            duplicate = appended.duplicate or op.seq != appended.seq
        if op.counterparty != payee or op.amount != amount or op.room_id != room_id:
            raise Conflict("this client_id was already used for another transfer", code="client_id_reused")
        if op.status != "accepted":
            raise _refusal(op)
        entry = self._w.entry_at(me, op.seq)
        assert entry is not None, "an accepted transfer has the payer's entry"
        if room_id is not None:
            await self._announce(me, payee, to, amount, client_id, room_id)
        return TransferView(
            client_id=client_id,
            to=to,
            to_user_id=payee,
            amount=amount,
            seq=op.seq,
            at=op.at,
            balance=entry.balance,
            duplicate=duplicate,
            room_id=room_id,
        )

    async def _announce(
        self, me: str, payee: str, to: str, amount: int, client_id: str, room_id: str
    ) -> None:
        """The room's message about an accepted transfer. A second append, to the room's stream:
        not atomic with the transfer, so it is made again (idempotently: its message id derives
        from the transfer's) by every repeat of the transfer; a client that did not get its answer
        repeats the transfer and the message appears then."""
        names = self._q.display_names([me, payee])
        payer_name = names.get(me, (me, ""))[0]
        text = f"{payer_name} sent {to} {amount:,} won"
        message_id = "pay." + hashlib.sha256(client_id.encode()).hexdigest()[:32]
        await self._messages.send(me, room_id, message_id, text)

    # ---- the faucet (operators) ---------------------------------------------------------------

    async def credit(self, username: str, amount: int, request_id: str) -> CreditView:
        """Creates ``amount`` in the wallet of ``username``; once per (wallet, request_id)."""
        check_client_id(request_id, "request_id")
        self._amount(amount, self._limits.max_credit_amount)
        (user_id,) = await self._accounts.resolve([username])
        op = self._w.op(user_id, "faucet", request_id)
        duplicate = op is not None
        if op is None:
            event = ev.WalletCredited(v=1, at=now_ms(), user_id=user_id, amount=amount, request_id=request_id)
            appended = await self._append(user_id, event, credit_dedupe_id(user_id, request_id))
            op = self._w.op(user_id, "faucet", request_id)
            assert op is not None, "an applied credit is decided"
            duplicate = appended.duplicate or op.seq != appended.seq
        if op.amount != amount:
            raise Conflict("this request_id was already used for another credit", code="request_id_reused")
        if op.status != "accepted":
            raise BadRequest(f"the ledger refused the credit ({op.status})", code="invalid_amount")
        entry = self._w.entry_at(user_id, op.seq)
        assert entry is not None, "an accepted credit has its entry"
        return CreditView(
            user_id=user_id,
            amount=amount,
            request_id=request_id,
            seq=op.seq,
            balance=entry.balance,
            duplicate=duplicate,
        )

    # ---- queries ------------------------------------------------------------------------------

    async def _at_least(self, at_least: int | None) -> int:
        if at_least is not None:
            check_position(at_least, "at_least", minimum=0)
            await self._fresh.reached(WALLETS_STREAM, at_least, self._limits.wallet_read_wait_s)
        return self._fresh.position(WALLETS_STREAM)

    async def wallet(self, me: str, at_least: int | None = None) -> WalletView:
        position = await self._at_least(at_least)
        row = self._w.wallet(me)
        return WalletView(user_id=me, balance=row.balance, entries=row.entries, position=position)

    async def history(
        self,
        me: str,
        before: int | None,
        after: int | None,
        limit: int,
        at_least: int | None = None,
    ) -> WalletHistory:
        """A page of the wallet's entries, oldest first: backwards from entry ``before`` (or the
        newest), or forwards from ``after``; ``more`` says whether the page was cut short."""
        if not 1 <= limit <= self._limits.history_page_max:
            raise BadRequest(f"limit must be 1-{self._limits.history_page_max}", code="invalid_limit")
        if before is not None and after is not None:
            raise BadRequest("give before or after, not both", code="invalid_position")
        position = await self._at_least(at_least)
        if after is not None:
            check_position(after, "after", minimum=0)
            rows = self._w.history_after(me, after, limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
        else:
            if before is not None:
                check_position(before, "before", minimum=1)
            rows = self._w.history_before(me, before, limit + 1)
            more = len(rows) > limit
            rows = list(reversed(rows[:limit]))
        names = self._q.display_names(sorted({r.counterparty for r in rows if r.counterparty}))
        return WalletHistory(
            entries=[_entry_view(r, names.get(r.counterparty, ("", ""))[0]) for r in rows],
            more=more,
            position=position,
        )

    def totals(self) -> LedgerTotals:
        balances, credited, lowest = self._w.totals()
        return LedgerTotals(
            dc=self._dc,
            position=self._fresh.position(WALLETS_STREAM),
            balances=balances,
            credited=credited,
            lowest=lowest,
            wallets=len(self._w.balances()),
        )


def _entry_view(row: EntryRow, counterparty: str) -> WalletEntryView:
    return WalletEntryView(
        n=row.n,
        seq=row.seq,
        kind=row.kind,
        counterparty=counterparty,
        counterparty_id=row.counterparty,
        delta=row.delta,
        balance=row.balance,
        key=row.key,
        at=row.at,
    )
