"""Operating a running cluster from anywhere that can reach it: each DC's state, and evacuating a
DC (its stream leaders moved away, its clients sent elsewhere).

Used by the local supervisor (``firebreak dc status|evacuate``) and by every gateway's ops API
(gateway/ops.py). Both only talk to the cluster: the gateways' HTTP endpoints and the log.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec
import nats.errors
import nats.js.errors

from firebreak.adapters import leadership
from firebreak.adapters.nats_connect import connect
from firebreak.config import Config, DCConfig
from firebreak.errors import FirebreakError, Unavailable

#: How long a status waits for one gateway or for the log before it reports them as not answering.
HEALTH_TIMEOUT_S = 2.0
LOG_TIMEOUT_S = 6.0


class Process(msgspec.Struct, frozen=True):
    """One process of a DC as its local supervisor sees it."""

    #: running, exited (died without being asked: see exit_code) or stopped (by request, or burned)
    state: str
    pid: int | None = None
    exit_code: int | None = None


class GatewayState(msgspec.Struct, frozen=True):
    """One gateway process of a DC as its /healthz says, asked at the process's own URL."""

    #: Its number within the DC (1 to ``gateways``).
    process: int
    #: Where it was asked: its own port where the DC has ``process_ports``, else the DC's.
    url: str
    answering: bool
    ready: bool = False
    draining: bool = False
    clients: int | None = None
    applied: dict[str, int] = msgspec.field(default_factory=dict)


class DCStatus(msgspec.Struct, frozen=True):
    name: str
    http_url: str
    #: nats-server and gateway; None when no local supervisor runs the DC (real sites).
    processes: dict[str, Process] | None
    #: Whether the DC's data folder exists (None: not known here).
    data: bool | None
    #: Some gateway process of the DC answered /healthz.
    answering: bool
    #: Every gateway process answered and serves.
    ready: bool
    #: Some gateway process drains (``gateways`` says which).
    draining: bool
    #: Live WebSocket sessions on all its gateway processes.
    clients: int | None
    #: Applied log position per stream: the lowest of its gateway processes (each has a read
    #: model of its own, and the DC is as far as its slowest).
    applied: dict[str, int]
    #: Log entries it has still to apply: behind the log's last sequence (or, when the log does not
    #: answer, behind the DC furthest ahead), summed over streams. None when no gateway process answered.
    lag: int | None
    #: Streams whose leader is this DC's node.
    leads: list[str]
    #: Each gateway process, at its own URL (one entry, at the DC's URL, where the DC has one
    #: process or no ``process_ports``: then the shared port answers for whichever it reaches).
    gateways: list[GatewayState] = msgspec.field(default_factory=list)


class ClusterStatus(msgspec.Struct, frozen=True):
    dcs: list[DCStatus]
    #: Last sequence per stream, as the log reports it (empty when it did not answer).
    log_last: dict[str, int]
    log_error: str | None
    #: Run by a local supervisor (``firebreak up``) that can stop and start processes.
    supervised: bool


class _Health(msgspec.Struct, frozen=True):
    """What dc status reads from a gateway process's /healthz (other fields are skipped)."""

    process: int = 1
    ready: bool = False
    draining: bool = False
    connections: int | None = None
    head: dict[str, int] = msgspec.field(default_factory=dict)


async def ask_gateway(http: httpx.AsyncClient, process: int, url: str) -> GatewayState:
    """Process ``process`` as its /healthz at ``url`` says; not answering when it does not answer,
    or not with a health (a malformed answer costs that process's row, not the whole status)."""
    try:
        h = msgspec.json.decode((await http.get(url + "/healthz")).content, type=_Health)
    except (httpx.HTTPError, msgspec.ValidationError, msgspec.DecodeError):
        return GatewayState(process, url, answering=False)
    return GatewayState(h.process, url, True, h.ready, h.draining, h.connections, dict(h.head))


async def _gateways(http: httpx.AsyncClient, dc: DCConfig) -> list[GatewayState]:
    return list(await asyncio.gather(*(ask_gateway(http, k, url) for k, url in dc.process_urls())))


def _lowest(heads: list[dict[str, int]]) -> dict[str, int]:
    """Per stream, the lowest position any of them applied (a stream one lacks counts as 0)."""
    streams = {s for h in heads for s in h}
    return {s: min(h.get(s, 0) for h in heads) for s in sorted(streams)}


def furthest_applied(per_dc: list[list[GatewayState]]) -> dict[str, int]:
    """Per stream, the furthest position any gateway process of any DC applied."""
    out: dict[str, int] = {}
    for gateways in per_dc:
        for g in gateways:
            for stream, seq in g.applied.items():
                out[stream] = max(out.get(stream, 0), seq)
    return out


def dc_status(
    dc: DCConfig,
    gateways: list[GatewayState],
    *,
    log_last: dict[str, int],
    furthest: dict[str, int],
    leaders: dict[str, str | None],
    processes: dict[str, Process] | None = None,
    data: bool | None = None,
) -> DCStatus:
    """One DC's row from its gateway processes' answers. Only the processes that answered count
    for its clients, applied positions and lag (one still starting has bound no port yet); the DC
    is ready only when every process answered ready, and draining when any answering one drains.
    Its lag is against the log's last sequence, or, when the log did not answer, the furthest
    position any DC applied."""
    up = [g for g in gateways if g.answering]
    heads = _lowest([g.applied for g in up]) if up else {}
    target = {s: log_last.get(s, furthest.get(s, 0)) for s in heads}
    counted = [g.clients for g in up if g.clients is not None]
    return DCStatus(
        name=dc.name,
        http_url=dc.http_url,
        processes=processes,
        data=data,
        answering=bool(up),
        ready=bool(up) and len(up) == len(gateways) and all(g.ready for g in up),
        draining=any(g.draining for g in up),
        clients=sum(counted) if counted else None,
        applied=heads,
        lag=sum(max(0, target[s] - seq) for s, seq in heads.items()) if up else None,
        leads=sorted(s for s, leader in leaders.items() if leader == dc.name),
        gateways=gateways,
    )


async def _log_state(config: Config) -> tuple[dict[str, str | None], dict[str, int]]:
    nc = await connect(config, prefer_dc=None, name="firebreak-status", role="ops")
    try:
        js = nc.jetstream(timeout=LOG_TIMEOUT_S / 2)
        names = leadership.stream_names(config)
        infos = await asyncio.gather(*(js.stream_info(n) for n in names))
        leaders = {n: (i.cluster.leader if i.cluster else None) for n, i in zip(names, infos, strict=True)}
        return leaders, {n: int(i.state.last_seq) for n, i in zip(names, infos, strict=True)}
    finally:
        await nc.close()


async def status(
    config: Config,
    processes: dict[str, dict[str, Process]] | None = None,
    data: dict[str, bool] | None = None,
) -> ClusterStatus:
    """Each DC's state: from each of its gateway processes' /healthz, the log's stream leaders and
    last sequences, and (when a local supervisor asks) its processes and data folder."""
    async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S) as http:
        per_dc = await asyncio.gather(*(_gateways(http, dc) for dc in config.dcs))
    leaders: dict[str, str | None] = {}
    last: dict[str, int] = {}
    log_error = None
    try:
        async with asyncio.timeout(LOG_TIMEOUT_S):
            leaders, last = await _log_state(config)
    except (TimeoutError, OSError, nats.errors.Error, nats.js.errors.Error) as exc:
        log_error = f"the log did not answer ({type(exc).__name__}: {exc})".replace(": )", ")")
    furthest = furthest_applied(per_dc)
    out = [
        dc_status(
            dc,
            gateways,
            log_last=last,
            furthest=furthest,
            leaders=leaders,
            processes=processes.get(dc.name) if processes is not None else None,
            data=data.get(dc.name) if data is not None else None,
        )
        for dc, gateways in zip(config.dcs, per_dc, strict=True)
    ]
    return ClusterStatus(out, last, log_error, processes is not None)


def plan_evacuation(config: Config, name: str, leaders: dict[str, str | None]) -> dict[str, str]:
    """Where each stream led by ``name`` goes: to the other DC leading the fewest so far."""
    others = [d.name for d in config.dcs if d.name != name]
    load = {o: sum(1 for leader in leaders.values() if leader == o) for o in others}
    placement = {}
    for stream, leader in leaders.items():
        if leader == name:
            target = min(others, key=lambda o: load[o])
            load[target] += 1
            placement[stream] = target
    return placement


async def evacuate(config: Config, name: str) -> dict[str, Any]:
    """Planned outage of DC ``name``: drains its gateway (new requests get 503 ``dc_draining``,
    live sessions end, and the drain is announced on the ops board, so the leader balancer gives
    the DC no leaders from then on), then moves its stream leaders to the other DCs (~25 ms each,
    no election), so its clients reconnect elsewhere. Raises when a leader could not be moved or
    the gateway did not drain, after doing all it could."""
    dc = config.dc(name)
    ended: int | None = None
    drain_error = None
    async with httpx.AsyncClient(timeout=5.0) as http:
        try:
            resp = await http.post(
                dc.http_url + "/internal/drain", headers={"x-ops-token": config.secrets.ops_token}
            )
            resp.raise_for_status()
            answer = resp.json()
            ended = int(answer.get("ended_sessions", 0))
            drained, processes = int(answer.get("processes_drained", 1)), int(answer.get("processes", 1))
            if drained < processes:
                drain_error = f"{drained} of its {processes} gateway processes drained"
        except (httpx.HTTPError, ValueError) as exc:
            drain_error = f"{type(exc).__name__}: {exc}"
    try:
        placement = plan_evacuation(config, name, await leadership.leaders(config))
        after = await leadership.move(config, placement) if placement else {}
    except (TimeoutError, OSError, nats.errors.Error, nats.js.errors.Error) as exc:
        raise Unavailable(f"the log did not answer, no leader was moved: {exc}") from exc
    stuck = sorted(s for s, leader in after.items() if leader != placement[s])
    if stuck or drain_error:
        problems = [f"leaders of {', '.join(stuck)} did not move"] if stuck else []
        problems += [f"its gateway did not drain ({drain_error})"] if drain_error else []
        raise FirebreakError(
            f"evacuating {name}: " + "; ".join(problems), code="evacuation_incomplete", status=503
        )
    return {"dc": name, "moved": placement, "draining": True, "ended_sessions": ended}


async def rebalance(config: Config) -> dict[str, str | None]:
    """Spreads the stream leaders round-robin over the DCs that serve (every gateway process of
    the DC ready, none draining); returns where they are after. Raises Unavailable when fewer
    than two DCs serve (moving every leader to one DC is no spread)."""
    serving = [d.name for d in (await status(config)).dcs if d.ready and not d.draining]
    if len(serving) < 2:
        raise Unavailable(f"only {len(serving)} DC serves: nothing to spread the leaders over")
    names = leadership.stream_names(config)
    try:
        return await leadership.move(config, {s: serving[i % len(serving)] for i, s in enumerate(names)})
    except (TimeoutError, OSError, nats.errors.Error, nats.js.errors.Error) as exc:
        raise Unavailable(f"the log did not answer, no leader was moved: {exc}") from exc
