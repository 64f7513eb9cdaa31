"""``firebreak oidc client add|rotate-key``: operators register the sites that sign users in with
Firebreak and rotate the provider's signing keys (docs/LOGIN.md). Both call the ops API
(``/internal/oidc/*``, the ops token) of the first DC that answers, so they work from any machine
that reaches a gateway, whichever DCs are down."""

from __future__ import annotations

import argparse
import json
from typing import Any

import httpx

from firebreak.config import Config
from firebreak.errors import FirebreakError, Unavailable


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    oidc = sub.add_parser("oidc", help="the login provider: register sites (clients), rotate signing keys")
    actions = oidc.add_subparsers(dest="oidc_command", required=True)
    client = actions.add_parser("client", help="registered sites")
    client_actions = client.add_subparsers(dest="client_command", required=True)
    add = client_actions.add_parser("add", help="register a site; prints its client_id and secret (once)")
    add.add_argument("--name", required=True, help="the site's name, shown on the consent page")
    add.add_argument("--redirect-uri", action="append", required=True, help="exact; repeat for more")
    add.add_argument("--post-logout-redirect-uri", action="append", default=[], help="exact; repeatable")
    add.add_argument("--public", action="store_true", help="no secret (a browser or mobile app; PKCE)")
    add.add_argument("--client-id", help="choose the id (default: generated)")
    add.add_argument("--id-token-alg", default="RS256", choices=["RS256", "ES256"])
    add.add_argument("--replace", action="store_true", help="replace a client with this id (new secret)")
    rotate = actions.add_parser("rotate-key", help="add new signing keys (published before they sign)")
    rotate.add_argument("--alg", choices=["RS256", "ES256"], help="one algorithm (default: both)")
    for p in (add, rotate):
        p.add_argument("--config", help="the cluster's config")
        p.add_argument("--data-dir", help="override the config's data folder")


def _call(config: Config, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POSTs to the first DC that answers; an answer with an error is final (not tried elsewhere)."""
    headers = {"x-ops-token": config.secrets.ops_token}
    failures = []
    with httpx.Client(timeout=20) as http:
        for dc in config.dcs:
            try:
                resp = http.post(dc.http_url + path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                failures.append(f"{dc.name}: {exc}")
                continue
            if resp.status_code == 503:
                failures.append(f"{dc.name}: {resp.text[:200]}")
                continue
            data: dict[str, Any] = resp.json()
            if resp.status_code >= 400:
                err = data.get("error") or {}
                raise FirebreakError(
                    str(err.get("message", resp.text)),
                    code=str(err.get("code", "error")),
                    status=resp.status_code,
                )
            return data
    raise Unavailable("no DC answered: " + "; ".join(failures))


def run(config: Config, args: argparse.Namespace) -> int:
    if args.oidc_command == "rotate-key":
        answer = _call(config, "/internal/oidc/rotate-key", {"alg": args.alg})
    else:
        answer = _call(
            config,
            "/internal/oidc/clients",
            {
                "name": args.name,
                "redirect_uris": args.redirect_uri,
                "post_logout_redirect_uris": args.post_logout_redirect_uri,
                "public": args.public,
                "client_id": args.client_id,
                "id_token_alg": args.id_token_alg,
                "replace": args.replace,
            },
        )
    print(json.dumps(answer, indent=2))
    return 0
