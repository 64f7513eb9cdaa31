"""The command-line options for the links between DCs: ``up --link-...`` and ``dc link DC ...``."""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from firebreak.errors import BadRequest
from firebreak.localcluster.linkfaults import LinkFault


def add_up_options(up: argparse.ArgumentParser) -> None:
    up.add_argument(
        "--link-proxies",
        action="store_true",
        help="route the traffic between DCs through fault-injecting proxies (no root needed), so "
        "'firebreak dc link|cut|heal DC' can slow down or cut a DC's links; implied by the options below",
    )
    up.add_argument("--link-delay-ms", type=float, default=0.0, help="one-way delay of every link (ms)")
    up.add_argument("--link-jitter-ms", type=float, default=0.0, help="± this much on each link's delay (ms)")
    up.add_argument(
        "--link-loss",
        type=float,
        default=0.0,
        help="chance that a segment is lost on a link (then held back a retransmission timeout)",
    )


def up_links(args: argparse.Namespace) -> LinkFault | None:
    """The fault every link starts with, or None for routes without proxies."""
    fault = LinkFault(delay_ms=args.link_delay_ms, jitter_ms=args.link_jitter_ms, loss=args.link_loss).check()
    return fault if args.link_proxies or not fault.perfect else None


def add_dc_options(dc: argparse.ArgumentParser) -> None:
    dc.add_argument("--to", help="cut/heal/link: only the link between the DC and this one")
    dc.add_argument("--delay-ms", type=float, default=0.0, help="link: one-way delay (ms)")
    dc.add_argument("--jitter-ms", type=float, default=0.0, help="link: ± this much on the delay (ms)")
    dc.add_argument("--loss", type=float, default=0.0, help="link: chance a segment is lost")


def dc_request(args: argparse.Namespace) -> dict[str, Any]:
    """The link part of a ``dc`` request."""
    out: dict[str, Any] = {}
    if args.to:
        out["to"] = args.to
    if args.action == "link":
        fault = LinkFault(delay_ms=args.delay_ms, jitter_ms=args.jitter_ms, loss=args.loss).check()
        out["fault"] = msgspec.to_builtins(fault)
    elif args.delay_ms or args.jitter_ms or args.loss:
        raise BadRequest("--delay-ms, --jitter-ms and --loss are for 'dc link'", code="usage")
    return out


def format_answer(action: str, dc: str, answer: dict[str, Any]) -> str:
    cut = ", ".join(answer["cut_links"]) or "none"
    lines = [f"{action} {dc}: done; links cut now: {cut}"]
    for name, fault in sorted(answer.get("links", {}).items()):
        lines.append(f"  {name}: {fault}")
    return "\n".join(lines)
