"""How far this DC's nats-server is from its nearest peer: the round trip a leader here waits for.

A stream leader commits an append once a majority of its replicas has it; with one replica per DC
and three DCs that is the leader plus its nearest follower, so a write led from this DC costs at
least the round trip to the nearest other DC. nats-server measures each route's round trip
(PING/PONG) and shows it at its monitoring endpoint ``/routez`` (``rtt``), which listens on this
machine's loopback only (adapters/nats_server_conf.py): the gateway runs beside its DC's node.
The leader balancer (service/balancer.py) keeps leaders off a DC much farther from its peers
than the others are.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from typing import Any

import httpx

log = logging.getLogger(__name__)

_DURATION = re.compile(r"([\d.]+)(ns|µs|us|ms|s|m|h)")
_MS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


def duration_ms(text: str) -> float | None:
    """A Go duration as nats-server prints it (``1.5ms``, ``250µs``, ``1m2.5s``) in milliseconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        return None
    return sum(float(n) * _MS[unit] for n, unit in parts)


def nearest_peer_ms(routez: dict[str, Any]) -> float | None:
    """The round trip to the nearest peer: per peer the median of its routes' RTTs (a pair of
    nodes keeps a pool of route connections), then the smallest over the peers."""
    by_peer: dict[str, list[float]] = defaultdict(list)
    for route in routez.get("routes") or []:
        rtt = duration_ms(str(route.get("rtt", "")))
        name = route.get("remote_name")
        if rtt is not None and name:
            by_peer[str(name)].append(rtt)
    medians = [sorted(v)[len(v) // 2] for v in by_peer.values()]
    return min(medians) if medians else None


def steady(samples: list[float | None]) -> float | None:
    """The smaller of the last two samples: one slow answer to a ping (a busy node, a retransmitted
    segment) is not a slow link, a link slow in two samples in a row is; None while unknown."""
    last = [x for x in samples[-2:] if x is not None]
    return min(last) if len(last) == 2 else None


class RouteRtt:
    """Polls ``/routez`` of this DC's nats-server every ``every_s`` (routes are pinged as often:
    adapters/nats_server_conf.py); :attr:`nearest_ms` is :func:`steady` over the samples."""

    def __init__(self, monitor_port: int, *, every_s: float = 2.0) -> None:
        self._url = f"http://127.0.0.1:{monitor_port}/routez"
        self._every_s = every_s
        self._samples: list[float | None] = []

    @property
    def nearest_ms(self) -> float | None:
        return steady(self._samples)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                try:
                    sample = nearest_peer_ms((await http.get(self._url)).json())
                except (httpx.HTTPError, ValueError):
                    sample = None  # unknown, not slow: the balancer judges only what it knows
                self._samples = [*self._samples[-1:], sample]
                await asyncio.sleep(self._every_s)
