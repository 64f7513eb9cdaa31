"""``firebreak wallet faucet|totals``: the operators' side of the wallet ledger, through any DC's
gateway and the ops token (docs/PAYMENTS.md)."""

from __future__ import annotations

import argparse
import json
import secrets
from typing import Any

import httpx

from firebreak.config import Config
from firebreak.errors import FirebreakError, Unavailable


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wallet = sub.add_parser("wallet", help="operators: credit a wallet (faucet), check the ledger's totals")
    wallet.add_argument("action", choices=["faucet", "totals"])
    wallet.add_argument("username", nargs="?", help="faucet: whose wallet")
    wallet.add_argument("amount", nargs="?", type=int, help="faucet: minor units to create")
    wallet.add_argument("--request-id", help="faucet: the credit's id (a retry with it credits once)")
    wallet.add_argument("--config", help="the cluster's config")
    wallet.add_argument("--data-dir", help="the data folder 'up' was started with")


async def _ask(config: Config, method: str, path: str, body: Any = None) -> list[dict[str, Any]]:
    """Asks each DC in turn until one answers (faucet), or every DC (totals: ``path`` ends so)."""
    headers = {"x-ops-token": config.secrets.ops_token}
    answers: list[dict[str, Any]] = []
    last: str = "no DC answered"
    async with httpx.AsyncClient(timeout=30.0) as http:
        for dc in config.dcs:
            try:
                resp = await http.request(method, dc.http_url + path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"{dc.name}: {exc!r}"
                continue
            if resp.status_code >= 500:
                last = f"{dc.name}: {resp.status_code} {resp.text[:200]}"
                continue
            answer = resp.json()
            if resp.status_code >= 400:
                error = answer.get("error", {})
                raise FirebreakError(
                    error.get("message", ""), code=error.get("code"), status=resp.status_code
                )
            answers.append({"dc": dc.name, **answer})
            if method == "POST":
                return answers
    if not answers:
        raise Unavailable(last)
    return answers


async def run(config: Config, args: argparse.Namespace) -> int:
    if args.action == "faucet":
        if not args.username or args.amount is None:
            raise FirebreakError("'wallet faucet' needs a username and an amount", code="usage", status=400)
        body = {
            "username": args.username,
            "amount": args.amount,
            "request_id": args.request_id or secrets.token_hex(8),
        }
        (answer,) = await _ask(config, "POST", "/internal/wallet/faucet", body)
        print(json.dumps(answer))
        return 0
    answers = await _ask(config, "GET", "/internal/wallet/totals")
    ok = all(a["balances"] == a["credited"] and a["lowest"] >= 0 for a in answers)
    for a in answers:
        print(json.dumps(a))
    return 0 if ok else 1
