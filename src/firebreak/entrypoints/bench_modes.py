"""The benches of ``firebreak bench`` beside the messaging one (entrypoints/bench_cli.py): the
read model, search, a rebuild, payments and files; and what every bench shares (progress, JSON, limits)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import msgspec
import uvloop

from firebreak.bench.load_shapes import BenchOptions
from firebreak.errors import BadRequest
from firebreak.limits import Limits
from firebreak.localcluster import ephemeral_config


def say(line: str) -> None:
    """Progress goes to stderr; figures go to stdout."""
    print(line, file=sys.stderr, flush=True)


def write_json(path: Path | None, value: object) -> None:
    if path is not None:
        path.write_bytes(msgspec.json.format(msgspec.json.encode(value), indent=2))


def read_model(args: argparse.Namespace) -> int:
    from firebreak.bench.readmodel import run_read_model_bench

    if not 1_000 <= args.read_model <= 10_000_000:
        raise BadRequest("--read-model takes 1,000 to 10,000,000 messages")
    say(f"applying {args.read_model:,} messages with the projector ...")
    if not 1 <= args.apply_batch <= 100_000:
        raise BadRequest("--apply-batch takes 1 to 100,000 entries")
    r = run_read_model_bench(
        messages=args.read_model,
        message_size=args.message_size,
        text=args.text or "repeat",
        batch=args.apply_batch,
    )
    h = r.history_page_50
    print(
        f"events applied     {r.events:,} in {r.apply_seconds:.1f} s = {r.events_per_s:,.0f} events/s"
        f" (batches of {r.batch:,})"
    )
    print(f"read model size    {r.db_mb:.0f} MB")
    print(f"history page of 50 p50 {h.p50_ms} ms  p99 {h.p99_ms} ms  p99.9 {h.p999_ms} ms  ({h.count} pages)")
    write_json(args.json, r)
    return 0


def presence(args: argparse.Namespace) -> int:
    from firebreak.bench.presence import run_presence_bench

    if not 6 <= args.presence <= 10_000_000:
        raise BadRequest("--presence takes 6 to 10,000,000 users")
    say(f"following {args.presence:,} online users over 6 processes for 150 beats ...")
    r = run_presence_bench(sources=6, users_per_source=args.presence // 6, beats=150)
    print(
        f"presence followed  {r.users:,} users of {r.sources} processes, {r.notes_per_s:.1f} notes/s:"
        f" {r.cpu_ms_per_s:.2f} ms of CPU per second per process ({r.online_at_end:,} online at the end)"
    )
    write_json(args.json, r)
    return 0


def search(args: argparse.Namespace) -> int:
    from firebreak.bench.search import run_search_bench

    if not 1_000 <= args.search <= 10_000_000:
        raise BadRequest("--search takes 1,000 to 10,000,000 messages")
    say(f"applying {args.search:,} messages with the projector, then searching ...")
    r = run_search_bench(messages=args.search)
    print(f"events applied     {r.apply_events_per_s:,.0f} events/s; read model {r.db_mb:.0f} MB")
    for case in r.cases:
        h = case.latency
        name = f"{case.who}, {case.words}, {case.order}"
        print(f"{name:36} p50 {h.p50_ms} ms  p99 {h.p99_ms} ms  max {h.max_ms} ms  ({h.count} queries)")
    write_json(args.json, r)
    return 0


def rebuild(args: argparse.Namespace) -> int:
    from firebreak.bench.rebuild import run_rebuild_bench

    if not 1_000 <= args.rebuild <= 5_000_000:
        raise BadRequest("--rebuild takes 1,000 to 5,000,000 messages")
    # The cluster's files (GBs for a million messages) go when the run ends, however it ends.
    with tempfile.TemporaryDirectory(prefix="firebreak-rebuild-") as tmp:
        config = ephemeral_config(Path(tmp), partitions=BenchOptions().partitions)
        r = uvloop.run(
            run_rebuild_bench(
                config,
                messages=args.rebuild,
                message_size=args.message_size,
                text=args.text or "repeat",
                say=say,
            )
        )
    print(f"log filled          {r.entries:,} entries in {r.fill_seconds:.1f} s ({r.fill_per_s:,.0f}/s)")
    print(f"gateway ready       {r.ready_seconds:.2f} s after its restart (serving again)")
    print(f"read model rebuilt  {r.rebuild_seconds:.2f} s = {r.events_per_s:,.0f} events/s")
    print(f"read model size     {r.db_mb:.0f} MB; gateway peak {r.gateway_peak_rss_mb:.0f} MB")
    write_json(args.json, r)
    return 0


def pay(args: argparse.Namespace) -> int:
    from firebreak.bench.pay import PayOptions, pay_table, run_pay_bench

    options = PayOptions(
        wallets=args.wallets,
        hot=args.hot,
        senders=args.senders,
        duration_s=args.duration,
        raw_messages=args.raw_messages,
    )
    if not 2 <= options.wallets <= 100_000 or options.hot == 1 or not 0 <= options.hot <= options.wallets:
        raise BadRequest("--wallets takes 2-100,000 and --hot 0 or 2 up to --wallets")
    if not 1 <= options.senders <= 1000 or not 1 <= options.duration_s <= 600:
        raise BadRequest("--senders takes 1-1000 and --duration 1-600 s")
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        config = ephemeral_config(Path(tmp), limits=bench_limits())
        result = uvloop.run(run_pay_bench(config, options, say))
    print(pay_table(result), flush=True)
    write_json(args.json, result)
    return 0 if result.ledger_ok else 1


def files(args: argparse.Namespace) -> int:
    from firebreak.bench.files import files_table, run_files_bench

    if not 1 <= args.files <= 10_000 or not 1 <= args.file_size <= 25 * 1024 * 1024:
        raise BadRequest("--files takes 1-10,000 and --file-size 1 byte to 25 MiB")
    if not 1 <= args.file_concurrency <= 64:
        raise BadRequest("--file-concurrency takes 1-64")
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        limits = dataclasses.replace(bench_limits(), uploads_in_flight=1_000_000)
        config = ephemeral_config(Path(tmp), limits=limits)
        result = uvloop.run(
            run_files_bench(
                config, files=args.files, size=args.file_size, concurrency=args.file_concurrency, say=say
            )
        )
    print(files_table(result), flush=True)
    write_json(args.json, result)
    return 0 if result.identical else 1


def accounts(args: argparse.Namespace) -> int:
    from firebreak.bench.accounts import accounts_table, run_accounts_bench

    if not 1 <= args.accounts <= 100_000 or not 1 <= args.account_concurrency <= 256:
        raise BadRequest("--accounts takes 1-100,000 and --account-concurrency 1-256")
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        config = ephemeral_config(Path(tmp), limits=bench_limits())
        bench = run_accounts_bench(config, args.accounts, args.account_concurrency, args.raw_messages, say)
        result = uvloop.run(bench)
    print(accounts_table(result), flush=True)
    write_json(args.json, result)
    return 0


def bench_limits() -> Limits:
    return Limits(
        send_rate_per_s=1e9,
        send_burst=1_000_000_000,
        writes_in_flight=1_000_000_000,
        sends_in_flight=1_000_000_000,
        password_time_cost=1,
        password_memory_kib=1024,
        registrations_per_address=1_000_000_000,
        login_failures_per_address=1_000_000_000,
        password_queue_max=1_000,
    )
