"""``firebreak drill``: burn DCs under load and print the verdict (and write a report)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import msgspec

from firebreak.config import Config
from firebreak.drill import report
from firebreak.drill.bank_runner import BankDrill
from firebreak.drill.login_runner import LoginDrill
from firebreak.drill.plan import (
    DrillOptions,
    check_options,
    needs_isolated_dcs,
    needs_link_proxies,
    parse_disaster,
    scenario,
)
from firebreak.drill.runner import Drill
from firebreak.errors import ConfigError
from firebreak.limits import Limits
from firebreak.localcluster import Sites, ephemeral_config, isolated_config
from firebreak.localcluster.linkfaults import LinkFault
from firebreak.localcluster.netns import unavailable


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "drill",
        help="burn DCs under a seeded workload and check that nothing was lost",
        description="Starts a fresh local cluster on free ports, runs simulated users against it, makes "
        "disasters happen at set times, then checks every acknowledged message. Exit status: 0 passed, "
        "1 the verdict failed, 2 the drill could not run.",
    )
    d = DrillOptions()
    p.add_argument(
        "--scenario",
        default="fire",
        help="none, fire, fire-other, evacuate, double-fire, fire-only, slow-dc (through link proxies); "
        "on isolated DCs (root): partition, partition-leader, flapping",
    )
    p.add_argument(
        "--disaster",
        action="append",
        default=[],
        metavar="KIND[:DC]@S",
        help="instead of --scenario: e.g. fire:leader@12, rebuild@26, evacuate:dc2@10, double_fire@12, "
        "partition:other@12, heal@24, slow:leader@12, restore@24 "
        "(DC: a name, 'leader' = leading most of the drill's rooms, 'other' = fewest); repeatable",
    )
    p.add_argument("--users", type=int, default=d.users)
    p.add_argument("--group-rooms", type=int, default=d.group_rooms)
    p.add_argument("--room-size", type=int, default=d.room_size)
    p.add_argument("--direct-rooms", type=int, default=d.direct_rooms)
    p.add_argument("--second-devices", type=int, default=d.second_devices, help="users with a second device")
    p.add_argument("--rate", type=float, default=d.rate, help="messages per second, all users together")
    p.add_argument("--message-size", type=int, default=d.message_size, help="bytes")
    p.add_argument("--duration", type=float, default=d.duration_s, help="seconds of workload")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--send-deadline", type=float, default=d.send_deadline_s, help="seconds a send is retried")
    p.add_argument("--max-outage", type=float, default=None, help="fail if a client waited longer (s)")
    p.add_argument("--partitions", type=int, default=d.partitions)
    p.add_argument(
        "--gateways-per-dc",
        type=int,
        default=d.gateways_per_dc,
        metavar="N",
        help="gateway processes per DC (docs/CONFIG.md, gateways); the verdict checks each one "
        "(chat: its read model, bank: its ledger, login: its end checks)",
    )
    p.add_argument(
        "--files", type=int, default=d.files, help="chat: users uploading files (32-128 KiB) during the drill"
    )
    p.add_argument(
        "--inject-fault",
        choices=["phantom", "forget", "forget_file", "double", "lose", "forget_family", "replay_code"],
        default="",
        help="prove the checker works (chat: phantom, forget, forget_file; bank: double, lose; "
        "login: forget_family, replay_code)",
    )
    p.add_argument(
        "--workload",
        choices=["chat", "bank", "login"],
        default=d.workload,
        help="chat messages, wallet transfers or OpenID Connect sign-ins and refreshes",
    )
    p.add_argument("--wallets", type=int, default=d.wallets, help="bank: wallets (users)")
    p.add_argument("--initial-balance", type=int, default=d.initial_balance, help="bank: faucet credit each")
    p.add_argument("--max-transfer", type=int, default=d.max_transfer, help="bank: largest transfer")
    p.add_argument("--login-users", type=int, default=d.login_users, help="login: accounts signing in")
    p.add_argument(
        "--slow-delay-ms",
        type=float,
        default=d.slow_delay_ms,
        help="slow: one-way delay added to the DC's links",
    )
    p.add_argument(
        "--slow-loss", type=float, default=d.slow_loss, help="slow: segment loss on the DC's links"
    )
    p.add_argument(
        "--isolated-dcs",
        action="store_true",
        help="run any scenario on isolated DCs: each DC in its own network namespace (root); "
        "partition scenarios always are",
    )
    p.add_argument("--report", type=Path, help="write DIR/report.json and DIR/report.html")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="keep the drill's cluster files here (default: a temporary directory, removed at the end)",
    )


def options_from(args: argparse.Namespace) -> DrillOptions:
    disasters = tuple(parse_disaster(x) for x in args.disaster) or scenario(args.scenario, args.duration)
    options = DrillOptions(
        users=args.users,
        group_rooms=args.group_rooms,
        room_size=args.room_size,
        direct_rooms=args.direct_rooms,
        second_devices=args.second_devices,
        rate=args.rate,
        message_size=args.message_size,
        duration_s=args.duration,
        seed=args.seed,
        disasters=disasters,
        send_deadline_s=args.send_deadline,
        max_outage_s=args.max_outage,
        inject_fault=args.inject_fault,
        partitions=args.partitions,
        gateways_per_dc=args.gateways_per_dc,
        files=args.files,
        workload=args.workload,
        wallets=args.wallets,
        initial_balance=args.initial_balance,
        max_transfer=args.max_transfer,
        login_users=args.login_users,
        slow_delay_ms=args.slow_delay_ms,
        slow_loss=args.slow_loss,
        isolated_dcs=args.isolated_dcs,
    )
    check_options(options)
    return options


def run(args: argparse.Namespace, argv: list[str]) -> int:
    options = options_from(args)
    command = "firebreak " + " ".join(shlex.quote(a) for a in argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # A drill's cluster files are kept only where the user asked for them (--data-dir), to look
    # at after a failed drill; a temporary one goes when the drill ends, however it ends.
    with contextlib.ExitStack() as stack:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firebreak-drill-")))
        # Every simulated user registers from this machine's one address: not a guessing attack.
        limits = Limits(registrations_per_address=1_000_000_000)
        if options.workload in ("bank", "login"):
            # Many accounts register and sign in: cheap hashes (the drill is about money or tokens).
            limits = replace(limits, password_time_cost=1, password_memory_kib=1024)
        sites = None
        if needs_isolated_dcs(options):
            why = unavailable()
            if why is not None:
                raise ConfigError(f"this drill needs isolated DCs: {why}")
            sites = Sites.plan(("dc1", "dc2", "dc3"))
            config: Config = isolated_config(
                data_dir,
                sites,
                partitions=options.partitions,
                limits=limits,
                gateways=options.gateways_per_dc,
            )
        else:
            config = ephemeral_config(
                data_dir, partitions=options.partitions, limits=limits, gateways=options.gateways_per_dc
            )
        links = LinkFault() if needs_link_proxies(options) else None
        if options.workload == "bank":
            return _bank(BankDrill(config, options, command, say, sites, links), args.report)
        if options.workload == "login":
            return _login(LoginDrill(config, options, command, say, sites, links), args.report)
        result = asyncio.run(Drill(config, options, command, say, sites, links).run())
    v = result.findings.verdict
    print(report.summary(result))
    width = max(len(k) for k in v.__struct_fields__)
    for field in v.__struct_fields__:
        print(f"  {field:{width}}  {getattr(v, field)}")
    print(report.phase_lines(result.findings.phases))
    if args.report:
        json_path, html_path = report.write(result, args.report)
        print(f"report: {html_path} and {json_path}")
    return 0 if v.passed else 1


def _bank(drill: BankDrill, report_dir: Path | None) -> int:
    result = asyncio.run(drill.run_bank())
    v = result.findings.verdict
    print(
        f"bank drill {'PASSED' if v.passed else 'FAILED'}: {v.accepted} accepted, {v.refused} refused, "
        f"{v.failed} unanswered of {v.transfers} transfers; {len(v.dcs_compared)} DCs compared"
    )
    width = max(len(k) for k in v.__struct_fields__)
    for field in v.__struct_fields__:
        print(f"  {field:{width}}  {getattr(v, field)}")
    for kind, examples in result.findings.examples.items():
        print(f"  e.g. {kind}: {'; '.join(examples)}")
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        path = report_dir / "report.json"
        path.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
        print(f"report: {path}")
    return 0 if v.passed else 1


def _login(drill: LoginDrill, report_dir: Path | None) -> int:
    result = asyncio.run(drill.run_login())
    v = result.findings.verdict
    summary = (
        f"login drill {'PASSED' if v.passed else 'FAILED'}: {v.sign_ins_failed} of {v.sign_ins} sign-ins "
        f"and {v.refreshes_failed} of {v.refreshes} refreshes failed; {v.lost_families} of "
        f"{v.families_checked} acknowledged families lost"
    )
    print(summary)
    width = max(len(k) for k in v.__struct_fields__)
    for field in v.__struct_fields__:
        print(f"  {field:{width}}  {getattr(v, field)}")
    for p in result.findings.phases:
        print(
            f"  {p.label:24} {p.start:6.1f}-{p.end:6.1f}s  sign-ins {p.sign_ins_failed}/{p.sign_ins} failed, "
            f"refreshes {p.refreshes_failed}/{p.refreshes} failed, slowest sign-in {p.slowest_sign_in_s} s, "
            f"slowest refresh {p.slowest_refresh_s} s"
        )
    for kind, examples in result.findings.examples.items():
        print(f"  e.g. {kind}: {'; '.join(examples)}")
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        path = report_dir / "report.json"
        # The console lists reports by their top-level verdict and summary.
        doc = msgspec.to_builtins(result) | {"verdict": msgspec.to_builtins(v), "summary": summary}
        path.write_bytes(msgspec.json.format(msgspec.json.encode(doc)))
        print(f"report: {path}")
    return 0 if v.passed else 1
