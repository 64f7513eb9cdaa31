"""``firebreak dc status|stop|start|burn|rebuild|evacuate|cut|heal``: operate the cluster that a running
``firebreak up`` supervises, through its control socket (control.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import msgspec

from firebreak.config import Config
from firebreak.entrypoints import control, link_cli
from firebreak.entrypoints.dcops import ClusterStatus, DCStatus, Process
from firebreak.errors import BadRequest

ACTIONS_HELP = """\
status    each DC: its processes, ready, applied log positions and lag, the stream leaders it
          holds, connected clients
stop      SIGTERM the DC's gateway and nats-server; its data is kept
start     start the DC's processes that are not running (empty or not); waits until it serves
burn      SIGKILL both processes and delete the DC's data folder (a fire)
rebuild   burn, then start: the DC copies the log from its peers and rebuilds its read model
evacuate  move the DC's stream leaders to the other DCs and drain its clients (planned outage)
cut       cut the DC's links to every other DC, processes left running: a partition (only with
          'up --isolated-dcs')
heal      restore the DC's links to the other DCs (as 'up' started them)
link      set the delay, jitter and loss of the DC's links (both directions; --to one DC only):
          e.g. 'dc link dc3 --delay-ms 50 --loss 0.01' (only with 'up --link-...' proxies)
cut, heal and link work on isolated DCs or with link proxies ('up --link-proxies')
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dc = sub.add_parser(
        "dc",
        help="operate a running 'firebreak up': status, stop/start/burn/rebuild/evacuate a DC",
        description=ACTIONS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dc.add_argument("action", choices=["status", *control.DC_ACTIONS])
    dc.add_argument("name", nargs="?", help="the DC to act on (not for status)")
    dc.add_argument("--config", help="the config 'up' was started with")
    dc.add_argument("--data-dir", help="the data folder 'up' was started with")
    dc.add_argument("--json", action="store_true", help="print the answer as JSON")
    dc.add_argument("--no-wait", action="store_true", help="start/rebuild: return once the processes run")
    link_cli.add_dc_options(dc)


def _process(p: Process | None) -> str:
    if p is None:
        return "-"
    return f"exited {p.exit_code}" if p.state == "exited" else p.state


def _gateways(procs: dict[str, Process]) -> str:
    """The gateway column: where a DC runs several gateway processes ("gateway", "gateway 2",
    ...), how many of them run."""
    mine = [p for kind, p in procs.items() if kind == "gateway" or kind.startswith("gateway ")]
    if len(mine) <= 1:
        return _process(procs.get("gateway"))
    running = sum(p.state == "running" for p in mine)
    return "running" if running == len(mine) else f"{running} of {len(mine)} running"


def _row(d: DCStatus) -> list[str]:
    procs = d.processes or {}
    applied = sum(d.applied.values())
    return [
        d.name,
        _process(procs.get("nats-server")),
        _gateways(procs),
        "draining" if d.draining else ("yes" if d.ready else ("no" if d.answering else "silent")),
        str(applied) if d.answering else "-",
        "-" if d.lag is None else str(d.lag),
        str(d.clients) if d.clients is not None else "-",
        "kept" if d.data else ("none" if d.data is not None else "-"),
        ", ".join(d.leads) or "-",
    ]


def _process_rows(d: DCStatus) -> list[list[str]]:
    """Under a DC with several gateway processes, one row each, as its own port answered (the
    gateway column: how its local supervisor sees that process)."""
    if len(d.gateways) < 2:
        return []
    procs = d.processes or {}
    rows = []
    for g in d.gateways:
        ready = "draining" if g.draining else ("yes" if g.ready else ("no" if g.answering else "silent"))
        applied = str(sum(g.applied.values())) if g.answering else "-"
        clients = str(g.clients) if g.clients is not None else "-"
        supervised = procs.get("gateway" if g.process == 1 else f"gateway {g.process}")
        rows.append(
            [f"  #{g.process} {g.url}", "", _process(supervised), ready, applied, "", clients, "", ""]
        )
    return rows


def format_status(status: ClusterStatus) -> str:
    header = ["DC", "nats-server", "gateway", "ready", "applied", "lag", "clients", "data", "leads"]
    rows = [header, *(row for d in status.dcs for row in [_row(d), *_process_rows(d)])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]) for r in rows]
    log = f"log: last {sum(status.log_last.values())} entries over {len(status.log_last)} streams"
    lines.append(status.log_error or log)
    lines.append("applied = log entries applied to the DC's read model; lag = entries still to apply")
    if any(len(d.gateways) > 1 for d in status.dcs):
        lines.append(
            "#N = one gateway process of the DC, asked at its own port; the DC's row counts those that"
            " answered: clients summed, applied and lag the lowest per stream"
        )
    return "\n".join(lines)


async def run(config: Config, args: argparse.Namespace) -> int:
    if args.action == "status":
        if args.name:
            raise BadRequest("'dc status' takes no DC name", code="usage")
        answer = await control.call(config, {"action": "status"}, timeout_s=30)
        status = msgspec.convert(answer, ClusterStatus)
        print(json.dumps(answer, indent=2) if args.json else format_status(status))
        return 0
    if not args.name:
        raise BadRequest(f"'dc {args.action}' needs a DC name", code="usage")
    config.dc(args.name)
    waits = args.action in ("start", "rebuild") and not args.no_wait
    if waits:
        print(
            f"{args.action} {args.name}: waiting until it serves (it catches up from the log) ...", flush=True
        )
    request: dict[str, Any] = {"action": args.action, "dc": args.name, "wait": not args.no_wait}
    request |= link_cli.dc_request(args)
    answer = await control.call(config, request)
    if args.json:
        print(json.dumps(answer, indent=2))
    elif args.action == "evacuate":
        moved = ", ".join(f"{s} -> {t}" for s, t in answer["moved"].items()) or "none led there"
        ended = answer["ended_sessions"]
        print(f"evacuated {args.name}: leaders moved: {moved}; draining, {ended} sessions ended")
    elif args.action in control.LINK_ACTIONS:
        print(link_cli.format_answer(args.action, args.name, answer))
    else:
        procs = ", ".join(f"{k} {v['state']}" for k, v in answer["processes"].items())
        print(f"{args.action} {args.name}: done ({procs})" + ("; it serves" if waits else ""))
    return 0
