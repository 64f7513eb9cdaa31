"""The ``firebreak`` command: ``up`` (the local three-DC cluster), ``gateway`` (one DC's gateway
process, started by ``up``), ``nats-config`` (one DC's nats-server config, for real sites) and
``chat`` (a terminal chat client), ``drill`` (a fire drill) and ``bench`` (throughput and latency)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import uvloop

from firebreak.config import Config, load_config
from firebreak.errors import FirebreakError


def _config(args: argparse.Namespace) -> Config:
    path = getattr(args, "config", None)
    config = load_config(Path(path) if path else None)
    if getattr(args, "data_dir", None):
        config = config.with_data_dir(Path(args.data_dir))
    return config


async def _up(config: Config) -> int:
    from firebreak.entrypoints.cluster import LocalCluster

    cluster = LocalCluster(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"starting {len(config.dcs)} DCs, data in {config.data_dir.resolve()} ...", flush=True)
    try:
        await cluster.start()
        for dc in config.dcs:
            print(f"  {dc.name}: http {dc.http_url}  websocket {dc.ws_url}  nats {dc.nats_url}", flush=True)
        print(f"API docs: {config.dcs[0].http_url}/docs   logs: {config.data_dir}/<dc>/*.log", flush=True)
        print("ready. Chat with: ./firebreak chat --user NAME   (Ctrl-C stops the cluster)", flush=True)
        while not stop.is_set():
            for kind, procs in (("nats-server", cluster.nats), ("gateway", cluster.gateways)):
                for name, proc in list(procs.items()):
                    if proc.poll() is not None:
                        print(f"warning: {kind} {name} exited with {proc.returncode}", file=sys.stderr)
                        del procs[name]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        print("stopping ...", flush=True)
        cluster.stop()
    print("stopped; data kept.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="firebreak", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the local three-DC cluster in the foreground")
    up.add_argument("--config", help="TOML config (default: three DCs on 127.0.0.1)")
    up.add_argument("--data-dir", help="override the config's data folder")

    gw = sub.add_parser("gateway", help="run one DC's gateway (started by 'up')")
    gw.add_argument("--dc", required=True)
    gw.add_argument("--config")

    from firebreak.entrypoints import drill_cli

    drill_cli.add_parser(sub)
    from firebreak.entrypoints import bench_cli

    bench_cli.add_parser(sub)

    natsconf = sub.add_parser("nats-config", help="print one DC's nats-server config (for real sites)")
    natsconf.add_argument("--dc", required=True)
    natsconf.add_argument("--config")

    chat = sub.add_parser("chat", help="a terminal chat client")
    chat.add_argument("--config")
    chat.add_argument("--user", required=True, help="username (registered on first use)")
    chat.add_argument("--password", help="default: asked for")
    chat.add_argument("--dc", help="preferred DC (default: the first)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = _config(args)
        if args.command == "up":
            return asyncio.run(_up(config))
        if args.command == "gateway":
            from firebreak.entrypoints.gateway.main import serve

            logging.getLogger("firebreak").setLevel(logging.INFO)
            # uvloop: the gateway is socket-bound (HTTP, WebSocket fan-out, NATS); measured in
            # docs/PERFORMANCE.md.
            uvloop.run(serve(config, args.dc))
            return 0
        if args.command == "drill":
            from firebreak.entrypoints import drill_cli

            return drill_cli.run(args, argv if argv is not None else sys.argv[1:])
        if args.command == "bench":
            from firebreak.entrypoints import bench_cli

            return bench_cli.run(args)
        if args.command == "nats-config":
            from firebreak.entrypoints.cluster import nats_conf

            print(nats_conf(config, config.dc(args.dc)), end="")
            return 0
        from firebreak.entrypoints.chat import run_chat

        return asyncio.run(run_chat(config, args.user, args.password, args.dc))
    except FirebreakError as exc:
        print(f"firebreak: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
