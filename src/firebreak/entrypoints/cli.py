"""The ``firebreak`` command: ``up`` (the local three-DC cluster), ``dc`` (operate it while it
runs), ``gateway`` (one DC's gateway process, started by ``up``), ``nats`` and ``nats-config`` (one
DC's nats-server and its config, for real sites), ``tls-certs`` (certificates for the log's TLS),
``chat`` (a terminal chat client), ``wallet`` (operators: faucet, ledger totals), ``drill`` (a
fire drill), ``bench`` (throughput and latency) and ``oidc`` (the login provider's sites and keys)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
from pathlib import Path

import uvloop

from firebreak.config import Config
from firebreak.config_file import load_config
from firebreak.errors import FirebreakError
from firebreak.localcluster.secrets import with_local_secrets
from firebreak.private_files import PRIVATE_UMASK


def _config(args: argparse.Namespace) -> Config:
    path = getattr(args, "config", None)
    config = load_config(Path(path) if path else None)
    if getattr(args, "data_dir", None):
        config = config.with_data_dir(Path(args.data_dir))
    return config


def _runnable(config: Config) -> Config:
    """For the commands that run or describe a DC's processes: the secrets filled in (generated
    and kept for a loopback-only cluster) and checked, and files made private from here on."""
    os.umask(PRIVATE_UMASK)
    return with_local_secrets(config)


def _gateway(config: Config, dc: str, process: int) -> int:
    """The gateway process: whatever stops it is logged with a timestamp (its log is read after
    the fact, next to nats-server's timestamped lines)."""
    from firebreak.entrypoints.gateway.main import serve

    log = logging.getLogger("firebreak.gateway")
    logging.getLogger("firebreak").setLevel(logging.INFO)

    def thread_died(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "?"
        log.error("thread %s died", name, exc_info=args.exc_value or True)

    threading.excepthook = thread_died
    try:
        # uvloop: the gateway is socket-bound (HTTP, WebSocket fan-out, NATS); measured in
        # docs/PERFORMANCE.md.
        uvloop.run(serve(config, dc, process))
    except KeyboardInterrupt:
        return 130
    except Exception:
        log.exception("gateway %s stopped by an error", dc)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="firebreak", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the local three-DC cluster in the foreground")
    up.add_argument("--config", help="TOML config (default: three DCs on 127.0.0.1)")
    up.add_argument("--data-dir", help="override the config's data folder")
    up.add_argument(
        "--isolated-dcs",
        action="store_true",
        help="run each DC in its own network namespace with its own address (needs root), so "
        "'firebreak dc cut DC' can partition it",
    )
    from firebreak.entrypoints import link_cli

    link_cli.add_up_options(up)
    up.add_argument(
        "--with-taxi",
        action="store_true",
        help="also run the demo site Firebreak Taxi, which signs people in with Firebreak (docs/LOGIN.md)",
    )
    up.add_argument("--taxi-port", type=int, default=8010, help="the taxi site's port (default 8010)")

    from firebreak.entrypoints import dc_cli

    dc_cli.add_parser(sub)

    gw = sub.add_parser("gateway", help="run one DC's gateway (started by 'up')")
    gw.add_argument("--dc", required=True)
    gw.add_argument(
        "--process", type=int, default=1, help="which of the DC's gateway processes (1 to its 'gateways')"
    )
    gw.add_argument("--config")

    from firebreak.entrypoints import drill_cli

    drill_cli.add_parser(sub)
    from firebreak.entrypoints import bench_args

    bench_args.add_parser(sub)
    from firebreak.entrypoints import oidc_cli

    oidc_cli.add_parser(sub)
    from firebreak.entrypoints import wallet_cli

    wallet_cli.add_parser(sub)

    natsconf = sub.add_parser("nats-config", help="print one DC's nats-server config (for real sites)")
    natsconf.add_argument("--dc", required=True)
    natsconf.add_argument("--config")

    nats = sub.add_parser(
        "nats", help="run one DC's nats-server: writes <data_dir>/<dc>/nats.conf, then runs it (real sites)"
    )
    nats.add_argument("--dc", required=True)
    nats.add_argument("--config")

    certs = sub.add_parser(
        "tls-certs", help="make a private CA and a certificate per DC for the log's TLS; prints [tls]"
    )
    certs.add_argument("--config")
    certs.add_argument("--out", required=True, help="folder for the PEM files (keys are 0600)")

    chat = sub.add_parser("chat", help="a terminal chat client")
    chat.add_argument("--config")
    chat.add_argument("--user", required=True, help="username to sign in as")
    chat.add_argument(
        "--register", action="store_true", help="create the account first (the password is asked twice)"
    )
    chat.add_argument("--dc", help="preferred DC (default: the first)")
    chat.epilog = "The password is read from FIREBREAK_PASSWORD, else asked for without echo."

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = _config(args)
        if args.command in ("up", "gateway", "nats", "nats-config", "oidc"):
            config = _runnable(config)
        if args.command == "up":
            from firebreak.entrypoints import supervisor

            taxi_port = args.taxi_port if args.with_taxi else None
            from firebreak.entrypoints.link_cli import up_links

            links = up_links(args)
            return asyncio.run(supervisor.up(config, taxi_port, isolated=args.isolated_dcs, links=links))
        if args.command == "dc":
            from firebreak.entrypoints import dc_cli

            return asyncio.run(dc_cli.run(config, args))
        if args.command == "gateway":
            return _gateway(config, args.dc, args.process)
        if args.command == "drill":
            from firebreak.entrypoints import drill_cli

            return drill_cli.run(args, argv if argv is not None else sys.argv[1:])
        if args.command == "oidc":
            from firebreak.entrypoints import oidc_cli

            return oidc_cli.run(config, args)
        if args.command == "bench":
            from firebreak.entrypoints import bench_cli

            return bench_cli.run(args)
        if args.command == "wallet":
            from firebreak.entrypoints import wallet_cli

            return asyncio.run(wallet_cli.run(with_local_secrets(config), args))
        if args.command == "nats-config":
            from firebreak.adapters.nats_server_conf import nats_conf

            print(nats_conf(config, config.dc(args.dc)), end="")
            return 0
        if args.command == "tls-certs":
            from firebreak.entrypoints.certs import make_certs, tls_section

            print(tls_section(make_certs(config, Path(args.out))), end="")
            return 0
        if args.command == "nats":
            from firebreak.localcluster.processes import nats_server_binary, write_nats_conf

            conf = write_nats_conf(config, config.dc(args.dc))
            binary = nats_server_binary()
            os.execv(binary, [binary, "-c", str(conf)])
        from firebreak.entrypoints.chat import run_chat

        return run_chat(config, args.user, args.dc, register=args.register)
    except FirebreakError as exc:
        print(f"firebreak: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
