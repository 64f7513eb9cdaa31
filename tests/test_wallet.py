"""The wallet ledger on a real three-DC cluster: no overdraft under concurrent transfers through
every DC, one result per client_id at any DC, the same history and totals everywhere, the faucet
(ops route and CLI) and the refusals' codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from firebreak.client import ApiError, Client
from firebreak.config_file import dump_config
from firebreak.localcluster import LocalCluster
from firebreak.wire.wallet_views import LedgerTotals, WalletHistory
from tests.helpers import ClientFactory, code_of, eventually, pinned, raw, run_cli, user


async def faucet(
    cluster: LocalCluster, username: str, amount: int, request_id: str, dc: int = 0
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=cluster.config.dcs[dc].http_url, timeout=30) as http:
        return await http.post(
            "/internal/wallet/faucet",
            json={"username": username, "amount": amount, "request_id": request_id},
            headers={"x-ops-token": cluster.config.secrets.ops_token},
        )


async def totals(cluster: LocalCluster) -> list[LedgerTotals]:
    out = []
    async with httpx.AsyncClient(timeout=10) as http:
        for dc in cluster.config.dcs:
            resp = await http.get(
                dc.http_url + "/internal/wallet/totals",
                headers={"x-ops-token": cluster.config.secrets.ops_token},
            )
            body = resp.json()
            out.append(LedgerTotals(**body))
    return out


async def same_everywhere(make: ClientFactory, client: Client, balance: int) -> WalletHistory:
    """Waits until every DC shows the wallet at ``balance``; returns its history, equal at every DC."""
    views = [pinned(make, client, dc) for dc in range(3)]

    async def check() -> list[WalletHistory] | None:
        wallets = [await v.wallet() for v in views]
        if any(w.balance != balance for w in wallets):
            return None
        return [await v.wallet_history(limit=200) for v in views]

    histories = await eventually(check, what=f"balance {balance} at every DC")
    first = histories[0]
    assert all(h.entries == first.entries for h in histories), "every DC shows the same history"
    return first


async def test_concurrent_transfers_from_every_dc_never_overdraw(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    payer = await user(make_client, 0, "payer")
    payee = await user(make_client, 1, "payee")
    assert payer.user is not None and payee.user is not None
    assert (await faucet(cluster, payer.user.username, 100, "seed")).status_code == 201

    async def pay(i: int) -> int:
        try:
            await pinned(make_client, payer, i % 3).transfer(payee.user.username, 10, f"t{i}")  # type: ignore[union-attr]
        except ApiError as exc:
            assert (exc.status, exc.code) == (409, "insufficient_funds")
            return 0
        return 1

    results = await asyncio.gather(*(pay(i) for i in range(20)))
    assert sum(results) == 10, "exactly the transfers that the balance covers succeed"

    history = await same_everywhere(make_client, payer, 0)
    running = 0
    for entry in history.entries:
        running += entry.delta
        assert entry.balance == running >= 0
    assert [e.kind for e in history.entries] == ["faucet", *["sent"] * 10]
    received = await same_everywhere(make_client, payee, 100)
    assert [e.delta for e in received.entries] == [10] * 10
    assert {e.counterparty for e in received.entries} == {payer.user.username}

    async def balanced() -> list[LedgerTotals] | None:
        found = await totals(cluster)
        return found if len({t.position for t in found}) == 1 else None

    for t in await eventually(balanced, what="every DC at the same ledger position"):
        assert t.balances == t.credited and t.lowest >= 0, t


async def test_a_repeat_at_another_dc_returns_the_first_result(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    payer = await user(make_client, 0, "payer")
    payee = await user(make_client, 2, "payee")
    assert payer.user is not None and payee.user is not None
    await faucet(cluster, payer.user.username, 50, "seed")

    first = await payer.transfer(payee.user.username, 30, "same")
    assert not first.duplicate and first.balance == 20
    for dc in (1, 2, 0):
        again = await pinned(make_client, payer, dc).transfer(payee.user.username, 30, "same")
        assert again.duplicate and (again.seq, again.balance, again.at) == (
            first.seq,
            first.balance,
            first.at,
        )
    await same_everywhere(make_client, payer, 20)

    with pytest.raises(ApiError) as reused:
        await pinned(make_client, payer, 1).transfer(payee.user.username, 31, "same")
    assert (reused.value.status, reused.value.code) == (409, "client_id_reused")
    # A refusal before the log records nothing; the same id is decided anew once funded.
    with pytest.raises(ApiError) as poor:
        await pinned(make_client, payer, 2).transfer(payee.user.username, 40, "later")
    assert (poor.value.status, poor.value.code) == (409, "insufficient_funds")
    await faucet(cluster, payer.user.username, 20, "more", dc=1)
    later = await pinned(make_client, payer, 2).transfer(payee.user.username, 40, "later")
    assert later.balance == 0 and not later.duplicate


async def test_refusals_have_stable_codes_and_change_nothing(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    payer = await user(make_client, 1, "payer")
    payee = await user(make_client, 1, "payee")
    assert payer.user is not None and payee.user is not None and payer.token is not None
    seeded = await faucet(cluster, payer.user.username, 5, "seed")
    # credited at dc1, read at dc2: wait for dc2 to have applied it
    before = await payer.wallet(at_least=seeded.json()["seq"])

    cases = [
        ({"client_id": "a", "to": "nobody_here_x", "amount": 1}, (404, "unknown_user")),
        ({"client_id": "b", "to": payer.user.username, "amount": 1}, (400, "self_transfer")),
        ({"client_id": "c", "to": payee.user.username, "amount": 0}, (400, "invalid_amount")),
        ({"client_id": "d", "to": payee.user.username, "amount": -3}, (400, "invalid_amount")),
        ({"client_id": "e", "to": payee.user.username, "amount": 10**10}, (400, "invalid_amount")),
        ({"client_id": "f", "to": payee.user.username, "amount": True}, (400, "malformed_request")),
        ({"client_id": "g", "to": payee.user.username, "amount": 6}, (409, "insufficient_funds")),
        ({"client_id": "h h", "to": payee.user.username, "amount": 1}, (400, "invalid_client_id")),
    ]
    for body, expected in cases:
        resp = await raw(cluster, "POST", "/v1/wallet/transfers", token=payer.token, json=body)
        assert code_of(resp) == expected, body
    after = await payer.wallet()
    assert (after.balance, after.entries) == (before.balance, before.entries) == (5, 1)

    forbidden = await raw(
        cluster, "POST", "/internal/wallet/faucet", json={"username": "x", "amount": 1, "request_id": "r"}
    )
    assert code_of(forbidden) == (403, "ops_only")
    assert (await faucet(cluster, payer.user.username, 0, "zero")).status_code == 400
    ahead = await raw(cluster, "GET", f"/v1/wallet?at_least={after.position}", token=payer.token)
    assert ahead.status_code == 200 and ahead.json()["balance"] == 5
    beyond = await raw(cluster, "GET", f"/v1/wallet?at_least={2**40}", token=payer.token)
    assert code_of(beyond) == (400, "invalid_position")


async def test_cli_faucet_credits_once(
    cluster: LocalCluster, make_client: ClientFactory, tmp_path: Path
) -> None:
    someone = await user(make_client, 2, "cli")
    assert someone.user is not None
    path = tmp_path / "cluster.toml"
    path.write_text(dump_config(cluster.config))
    for _ in range(2):
        code, out = await run_cli(
            "wallet", "faucet", someone.user.username, "700", "--request-id", "cli-1", "--config", str(path)
        )
        assert code == 0, out
    assert (await someone.wallet()).balance == 700
    code, out = await run_cli("wallet", "totals", "--config", str(path))
    assert code == 0, out
    assert out.count('"balances"') == 3


async def test_a_transfer_in_a_room_shows_there_once(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    payer = await user(make_client, 0, "payer")
    payee = await user(make_client, 1, "payee")
    outsider = await user(make_client, 2, "outsider")
    assert payer.user is not None and payee.user is not None and outsider.user is not None
    await faucet(cluster, payer.user.username, 5000, "seed")
    room = await payer.open_direct(payee.user.username)

    first = await payer.transfer(payee.user.username, 1234, "in-room", room_id=room.room_id)
    again = await pinned(make_client, payer, 2).transfer(
        payee.user.username, 1234, "in-room", room_id=room.room_id
    )
    assert again.duplicate and again.seq == first.seq and again.room_id == room.room_id
    text = f"{payer.user.username} sent {payee.user.username} 1,234 won"

    async def shown() -> bool:
        page = await pinned(make_client, payee, 1).history(room.room_id)
        return [m.text for m in page.messages] == [text]

    await eventually(shown, what="the transfer's message in the room, once")
    with pytest.raises(ApiError) as elsewhere:
        await payer.transfer(outsider.user.username, 1, "not-there", room_id=room.room_id)
    assert (elsewhere.value.status, elsewhere.value.code) == (404, "unknown_room")
    assert (await payer.wallet()).balance == 5000 - 1234
