"""The arguments of ``firebreak bench``, apart from its runs and checks (bench_cli.py), so that
building the CLI's parser (every ``firebreak`` command does) does not import the bench's runner."""

from __future__ import annotations

import argparse
from pathlib import Path

from firebreak.bench.connections import MAX_SOURCE_ADDRESSES, SOCKETS_PER_GATEWAY
from firebreak.bench.listeners import SOCKETS_PER_LISTENER
from firebreak.bench.load_shapes import BenchOptions
from firebreak.bench.texts import TEXT_KINDS
from firebreak.config_file import MAX_GATEWAYS_PER_DC
from firebreak.service.projector import CATCH_UP_BATCH

SWEEPABLE = ("rooms", "room_size", "message_size", "online", "batch")
#: Bounds --repeat: every run starts a fresh cluster (~20-40 s each).
MAX_REPEAT = 50
#: Bounds --listener-processes: 16 x 15,000 sockets is far past what 2 cores can serve.
MAX_LISTENERS = 16


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="measure sends/s and latency end to end, against the raw JetStream limit",
        description="Starts a fresh local cluster on free ports; measures raw JetStream publishes (R3) "
        "from this process, then Firebreak through HTTP and WebSocket; prints a table.",
    )
    d = BenchOptions()
    p.add_argument("--rooms", type=int, default=d.rooms, help="rooms, one sender each")
    p.add_argument("--room-size", type=int, default=d.room_size)
    p.add_argument("--online", type=float, default=d.online, help="share of members with a live WebSocket")
    p.add_argument("--message-size", type=int, default=d.message_size, help="bytes")
    p.add_argument(
        "--text",
        choices=TEXT_KINDS,
        default=None,
        help="what the messages say: repeat, one letter repeated (the cheapest text to index for "
        "search); words, Korean and Latin words as a chat holds (bench/texts.py); also for "
        "--read-model and --rebuild",
    )
    p.add_argument("--duration", type=float, default=d.duration_s, help="seconds of sending")
    p.add_argument("--max-messages", type=int, default=d.max_messages)
    p.add_argument("--rate", type=float, default=None, help="open loop: sends/s (default: closed loop)")
    p.add_argument(
        "--batch", type=int, default=d.batch, help="messages per request (>1: batch sends, one atomic append)"
    )
    p.add_argument(
        "--partitions", type=int, default=d.partitions, help="room streams (log partitions) of the cluster"
    )
    p.add_argument(
        "--ignore-write-hints",
        action="store_true",
        help="senders stay on their first DC instead of moving to the one each answer names "
        "(Firebreak-Write-Url), to compare",
    )
    p.add_argument(
        "--send-over",
        choices=["http", "ws"],
        default=d.send_over,
        help="http: one POST per message; ws: send commands on the sender's live WebSocket (single sends)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=d.window,
        metavar="N",
        help="with --send-over ws: sends each sender keeps in flight on its socket, pipelined (default 1)",
    )
    p.add_argument(
        "--source-addresses",
        type=int,
        default=d.source_addresses,
        metavar="N",
        help="spread the live sockets over N loopback source addresses (127.0.0.2, ...; "
        f"1-{MAX_SOURCE_ADDRESSES}), past the ephemeral port range of one",
    )
    p.add_argument(
        "--heartbeat-s",
        type=int,
        default=None,
        metavar="S",
        help="every live socket asks for a heartbeat frame every S seconds (1-3600; the server "
        "keeps it within its bounds, docs/LIMITS.md), as clients that check liveness themselves "
        "do; default: the server's interval, as the web app has it",
    )
    p.add_argument(
        "--listener-processes",
        type=int,
        default=None,
        metavar="N",
        help="processes that hold the live sockets of the members who do not send (0-"
        f"{MAX_LISTENERS}; default: none up to {SOCKETS_PER_LISTENER:,} of them, else one per "
        f"{SOCKETS_PER_LISTENER:,}), past the open files one process may have",
    )
    p.add_argument(
        "--read-model-commit-s",
        type=float,
        default=None,
        metavar="S",
        help="how often the gateways' serving read models commit (0-3600 s; default: the config's "
        "default, docs/CONFIG.md)",
    )
    p.add_argument(
        "--gateways-per-dc",
        type=int,
        default=None,
        metavar="N",
        help=f"gateway processes per DC, sharing its port (1-{MAX_GATEWAYS_PER_DC}; default: one per"
        f" {SOCKETS_PER_GATEWAY:,} of its live sockets), past the open files one process may have",
    )
    p.add_argument(
        "--link-rtt-ms",
        type=float,
        default=0.0,
        help="round trip of every link between DCs, through the link proxies (e.g. 10: Seoul-Busan, "
        "35: Seoul-Tokyo); 0: direct routes",
    )
    p.add_argument("--raw-messages", type=int, default=d.raw_messages)
    p.add_argument("--raw-sequential", type=int, default=d.raw_sequential)
    p.add_argument("--sweep", help=f"NAME=V1,V2,... with NAME one of {', '.join(SWEEPABLE)}")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help=f"run each workload N times (1-{MAX_REPEAT}) and print the medians; the JSON then holds "
        '{"runs": [...], "medians": [...]}',
    )
    p.add_argument("--json", type=Path, help="also write the figures as JSON")
    p.add_argument(
        "--read-model",
        type=int,
        metavar="N",
        help="instead: apply N messages with the real projector into SQLite, then time history pages",
    )
    p.add_argument(
        "--search",
        type=int,
        metavar="N",
        help="instead: apply N messages of Korean sentences, then time searches (bench/search.py)",
    )
    p.add_argument(
        "--presence",
        type=int,
        metavar="N",
        help="instead: what following the presence of N online users spread over 6 gateway processes "
        "costs each process, in-process (bench/presence.py)",
    )
    p.add_argument(
        "--apply-batch",
        type=int,
        default=CATCH_UP_BATCH,
        metavar="N",
        help="with --read-model: entries per transaction (10,000 as a rebuilding gateway applies; "
        "a serving gateway commits every 500 ms, so under load some hundreds to thousands)",
    )
    p.add_argument(
        "--workload",
        choices=["chat", "pay"],
        default="chat",
        help="chat: room sends and deliveries; pay: wallet transfers (docs/PAYMENTS.md)",
    )
    p.add_argument("--wallets", type=int, default=1000, help="pay: wallets")
    p.add_argument("--hot", type=int, default=0, help="pay: transfers only among the first N wallets")
    p.add_argument("--senders", type=int, default=48, help="pay: concurrent closed-loop senders")
    p.add_argument(
        "--files",
        type=int,
        metavar="N",
        help="instead: upload N files through the API and download them at another DC, next to the "
        "raw object-store rate (docs/FILES.md)",
    )
    p.add_argument(
        "--accounts",
        type=int,
        metavar="N",
        help="instead: register and log in N accounts from one address, next to the raw rate",
    )
    p.add_argument("--account-concurrency", type=int, default=32, help="accounts: calls at once")
    p.add_argument("--file-size", type=int, default=1_000_000, help="files: bytes per file")
    p.add_argument("--file-concurrency", type=int, default=4, help="files: uploads (and downloads) at once")
    p.add_argument(
        "--rebuild",
        type=int,
        metavar="N",
        help="instead: fill the log with N messages, burn one DC's read model, time its rebuild",
    )
