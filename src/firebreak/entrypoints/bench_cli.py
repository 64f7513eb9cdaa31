"""``firebreak bench``: throughput and latency through the real API, next to the raw JetStream limit."""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
from pathlib import Path

import msgspec
import uvloop

from firebreak.bench.connections import MAX_SOURCE_ADDRESSES, gateways_for, raise_open_files
from firebreak.bench.listeners import SOCKETS_PER_TURN, listeners_for
from firebreak.bench.load_shapes import BenchOptions
from firebreak.bench.runner import BenchResult, run_bench, table
from firebreak.bench.summary import RunsSummary, summarize, summary_line
from firebreak.config import READ_MODEL_COMMIT_S, Config
from firebreak.config_file import MAX_GATEWAYS_PER_DC
from firebreak.entrypoints.bench_args import MAX_LISTENERS, MAX_REPEAT, SWEEPABLE
from firebreak.entrypoints.bench_modes import (
    accounts,
    bench_limits,
    files,
    pay,
    presence,
    read_model,
    rebuild,
    say,
    search,
    write_json,
)
from firebreak.errors import BadRequest
from firebreak.limits import Limits
from firebreak.localcluster import ephemeral_config

#: Open files besides the live sockets (HTTP connections, the cluster's files, NATS).
OPEN_FILES_SPARE = 1024
#: The DCs of a bench's cluster (localcluster.ephemeral_config).
BENCH_DCS = 3


def _or(given: float | None, default: float) -> float:
    return default if given is None else given


def _options(args: argparse.Namespace) -> BenchOptions:
    options = BenchOptions(
        room_size=args.room_size,
        rooms=args.rooms,
        online=args.online,
        message_size=args.message_size,
        text=args.text or BenchOptions().text,
        duration_s=args.duration,
        max_messages=args.max_messages,
        rate=args.rate,
        batch=args.batch,
        raw_messages=args.raw_messages,
        raw_sequential=args.raw_sequential,
        partitions=args.partitions,
        follow_write_hints=not args.ignore_write_hints,
        send_over=args.send_over,
        window=args.window,
        source_addresses=args.source_addresses,
        heartbeat_s=args.heartbeat_s,
        listener_processes=args.listener_processes,
        gateways_per_dc=args.gateways_per_dc,
        read_model_commit_s=_or(args.read_model_commit_s, READ_MODEL_COMMIT_S),
        link_delay_ms=args.link_rtt_ms / 2,
    )
    if not 0 <= args.link_rtt_ms <= 2000:
        raise BadRequest("--link-rtt-ms takes 0-2000")
    if not 1 <= options.partitions <= 64:
        raise BadRequest("--partitions takes 1-64")
    if options.rooms < 1 or options.room_size < 2 or not 0 < options.online <= 1:
        raise BadRequest("need rooms >= 1, room size >= 2 and 0 < online <= 1")
    if not 1 <= options.batch <= 100:
        raise BadRequest("--batch takes 1-100 messages per request")
    if options.listener_processes is not None and not 0 <= options.listener_processes <= MAX_LISTENERS:
        raise BadRequest(f"--listener-processes takes 0-{MAX_LISTENERS}")
    if options.gateways_per_dc is not None and not 1 <= options.gateways_per_dc <= MAX_GATEWAYS_PER_DC:
        raise BadRequest(f"--gateways-per-dc takes 1-{MAX_GATEWAYS_PER_DC}")
    if not 0 <= options.read_model_commit_s <= 3600:
        raise BadRequest("--read-model-commit-s takes 0-3600 seconds")
    if options.heartbeat_s is not None and not 1 <= options.heartbeat_s <= 3600:
        raise BadRequest("--heartbeat-s takes 1-3600 seconds")
    if not 1 <= options.source_addresses <= MAX_SOURCE_ADDRESSES:
        raise BadRequest(f"--source-addresses takes 1-{MAX_SOURCE_ADDRESSES}")
    if not 1 <= options.window <= 100 or (options.window > 1 and options.send_over != "ws"):
        raise BadRequest("--window takes 1-100 sends in flight, with --send-over ws")
    if options.send_over == "ws" and options.batch != 1:
        raise BadRequest("--send-over ws sends one message per command: use --batch 1")
    if not 1 <= options.duration_s <= 600:  # the message size is checked for every mode, in run()
        raise BadRequest("duration must be 1-600 s")
    return options


def _sweep(text: str, base: BenchOptions) -> list[BenchOptions]:
    name, _, values = text.partition("=")
    if name not in SWEEPABLE or not values:
        raise BadRequest(f"--sweep takes NAME=V1,V2 with NAME one of {', '.join(SWEEPABLE)}")
    kind = float if name == "online" else int
    return [msgspec.structs.replace(base, **{name: kind(v)}) for v in values.split(",")]


def run(args: argparse.Namespace) -> int:
    modes = ("read_model", "rebuild", "search", "presence", "files", "accounts")
    other = args.workload == "pay" or any(getattr(args, mode) is not None for mode in modes)
    if other and args.read_model_commit_s is not None:
        raise BadRequest("--read-model-commit-s applies to the chat load only")
    texted = args.workload == "chat" and all(getattr(args, mode) is None for mode in modes[2:])
    if args.text is not None and not texted:
        raise BadRequest("--text applies to the chat load, --read-model and --rebuild only")
    if not 1 <= args.message_size <= 4000:
        raise BadRequest("--message-size takes 1-4000 bytes")
    if args.workload == "pay":
        return pay(args)
    if args.read_model is not None:
        return read_model(args)
    if args.rebuild is not None:
        return rebuild(args)
    if args.search is not None:
        return search(args)
    if args.presence is not None:
        return presence(args)
    if args.files is not None:
        return files(args)
    if args.accounts is not None:
        return accounts(args)
    base = _options(args)
    if not 1 <= args.repeat <= MAX_REPEAT:
        raise BadRequest(f"--repeat takes 1-{MAX_REPEAT}")
    workloads = _sweep(args.sweep, base) if args.sweep else [base]
    results: list[BenchResult] = []
    rows: list[tuple[BenchOptions, BenchResult | RunsSummary]] = []
    for options in workloads:
        runs = [_run_once(options) for _ in range(args.repeat)]
        results += runs
        if args.repeat > 1:
            medians = summarize(runs)
            print(summary_line(medians), flush=True)
            rows.append((options, medians))
        else:
            rows.append((options, runs[0]))
    if len(workloads) > 1:
        _print_sweep((args.sweep or "").partition("=")[0], rows)
    if args.repeat > 1:
        write_json(args.json, {"runs": results, "medians": [m for _, m in rows]})
    else:
        write_json(args.json, results[0] if len(results) == 1 else results)
    return 0


def cluster_config(data_dir: Path, options: BenchOptions, limits: Limits, gateways: int) -> Config:
    """The config of one run's fresh local cluster."""
    config = ephemeral_config(data_dir, partitions=options.partitions, limits=limits, gateways=gateways)
    return dataclasses.replace(config, read_model_commit_s=options.read_model_commit_s)


def _run_once(options: BenchOptions) -> BenchResult:
    # The per-user send limit (50/s) protects against abuse; a capacity benchmark lifts it, and
    # the cap on a user's sends in flight with it (an open loop may have several). It measures
    # messaging, not password hashing: setting up thousands of accounts with the production argon2
    # cost (64 MiB, ~50 ms each) would take minutes (docs/LIMITS.md).
    # All its users register and log in from one address, up to 32 at a time: the per-address
    # throttle and the hashing queue's bound are lifted too.
    limits = bench_limits()
    # Every live socket is a file in the load generator (the main process or a listener) and one in
    # a gateway; the cluster's processes inherit this process's limit.
    online = options.rooms * max(1, round(options.room_size * options.online))
    if options.listener_processes is None:  # the senders' sockets stay in the main process
        options = msgspec.structs.replace(options, listener_processes=listeners_for(online - options.rooms))
    if options.gateways_per_dc is None:
        gateways = gateways_for(math.ceil(online / BENCH_DCS), MAX_GATEWAYS_PER_DC)
        options = msgspec.structs.replace(options, gateways_per_dc=gateways)
    gateways = options.gateways_per_dc or 1
    listeners = options.listener_processes or 0
    # The most sockets one process holds: a gateway process or a process of the load generator (the
    # listeners take turns, so one may hold a turn more than an even share).
    held = math.ceil((online - options.rooms) / listeners) + SOCKETS_PER_TURN if listeners else online
    most = max(math.ceil(online / BENCH_DCS / gateways), held)
    have = raise_open_files(2 * most + OPEN_FILES_SPARE)
    if have < most + OPEN_FILES_SPARE:
        say(f"warning: open files limited to {have} per process (the hard limit): {most} sockets may not fit")
    # Each run's cluster files (hundreds of MB) go when the run ends, however it ends.
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        config = cluster_config(Path(tmp), options, limits, gateways)
        result = uvloop.run(run_bench(config, options, say))
    print(table(result), flush=True)
    return result


def _print_sweep(name: str, rows: list[tuple[BenchOptions, BenchResult | RunsSummary]]) -> None:
    """One line per workload: the run itself, or the medians of its runs."""
    heads = ("sends/s", "deliv/s", "ack p50", "ack p99", "all p99", "ratio")
    print(f"\n{name:>12} " + " ".join(f"{h:>9}" for h in heads))
    for options, row in rows:
        if isinstance(row, RunsSummary):
            per_s, deliveries, ratio = row.per_s_median, row.deliveries_per_s_median, row.ratio_to_raw_median
            ack50, ack99 = row.send_to_ack_p50_ms_median, row.send_to_ack_p99_ms_median
            all99 = row.send_to_all_delivered_p99_ms_median
        else:
            f = row.firebreak
            per_s, deliveries, ratio = f.per_s, f.deliveries_per_s, row.ratio_to_raw_pipelined
            ack50, ack99, all99 = f.send_to_ack.p50_ms, f.send_to_ack.p99_ms, f.send_to_all_delivered.p99_ms
        print(
            f"{getattr(options, name)!s:>12} {per_s:>9.1f} {deliveries:>9.1f} "
            f"{ack50!s:>9} {ack99!s:>9} {all99!s:>9} {ratio:>9.3f}"
        )
