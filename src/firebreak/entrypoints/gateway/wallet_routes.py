"""The wallet routes: transfers, balance, history (docs/API.md, docs/PAYMENTS.md), and the
operators' faucet and ledger check. Module without ``from __future__ import annotations``:
FastAPI reads the dependency annotations at run time."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.responses import Response

from firebreak.entrypoints.gateway import body_params as bodies
from firebreak.entrypoints.gateway import boundary
from firebreak.service.auth import TokenClaims
from firebreak.service.wallets import Wallets
from firebreak.wire.wallet_views import CreditView, LedgerTotals, TransferView, WalletHistory, WalletView

_AT_LEAST = (
    "answer only once this DC has applied the WALLETS stream this far (a position an earlier answer gave)"
)


def add_wallet_routes(
    app: FastAPI,
    wallets: Wallets,
    auth: Callable[..., Awaitable[TokenClaims]],
    ops: Callable[..., Awaitable[None]],
) -> None:
    Me = Annotated[TokenClaims, Depends(auth)]
    AtLeast = Annotated[int | None, Query(description=_AT_LEAST)]

    @app.post(
        "/v1/wallet/transfers",
        responses=boundary.doc(TransferView, 201) | boundary.doc(TransferView) | boundary.errors(404, 409),
        status_code=201,
    )
    async def transfer(me: Me, body: bodies.Transfer) -> Response:
        """201: transferred; 200: this client_id was transferred before (the first result)."""
        result = await wallets.transfer(me.user_id, body.client_id, body.to, body.amount, body.room_id)
        return boundary.reply(result, 200 if result.duplicate else 201)

    @app.get("/v1/wallet", responses=boundary.doc(WalletView))
    async def wallet(me: Me, at_least: AtLeast = None) -> Response:
        return boundary.reply(await wallets.wallet(me.user_id, at_least))

    @app.get("/v1/wallet/history", responses=boundary.doc(WalletHistory))
    async def history(
        me: Me,
        before: Annotated[int | None, Query(description="page backwards from this entry number")] = None,
        after: Annotated[int | None, Query(description="page forwards from this entry number")] = None,
        limit: int = 50,
        at_least: AtLeast = None,
    ) -> Response:
        return boundary.reply(await wallets.history(me.user_id, before, after, limit, at_least))

    @app.post(
        "/internal/wallet/faucet",
        dependencies=[Depends(ops)],
        responses=boundary.doc(CreditView, 201)
        | boundary.doc(CreditView)
        | boundary.errors(403, 404, 409, 503),
        status_code=201,
    )
    async def faucet(body: bodies.Faucet) -> Response:
        """Creates money in a user's wallet (operators only; for testing)."""
        result = await wallets.credit(body.username, body.amount, body.request_id)
        return boundary.reply(result, 200 if result.duplicate else 201)

    @app.get(
        "/internal/wallet/totals",
        dependencies=[Depends(ops)],
        responses=boundary.doc(LedgerTotals) | boundary.errors(403),
    )
    async def totals() -> Response:
        """The ledger check at this DC: total of balances, total credited, lowest balance."""
        return boundary.reply(wallets.totals())
