"""The ops API for operating DCs (header ``X-Ops-Token``), so that a console can do what
``firebreak dc`` does: every gateway answers for every DC.

Status and evacuate work from any gateway (they only talk to the cluster). Stop, start, burn and
rebuild act on processes: a gateway forwards them to the local supervisor (``firebreak up``)
through its control socket when there is one; elsewhere they are refused with 501
``not_supervised``, since a real site's processes belong to its own service manager
(docs/CONFIG.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from firebreak.config import Config
from firebreak.entrypoints import control, dcops
from firebreak.errors import ConfigError, FirebreakError, NotFound

log = logging.getLogger(__name__)

Action = Literal["stop", "start", "burn", "rebuild", "evacuate"]

NOT_SUPERVISED = (
    "no local supervisor runs this cluster ('firebreak up' on this machine), so this gateway cannot "
    "{action} a DC's processes: on real sites do it with the site's service manager (docs/CONFIG.md)"
)


def add_ops_routes(app: FastAPI, config: Config, own_dc: str, guard: Callable[..., Awaitable[None]]) -> None:
    """Adds ``GET /internal/dcs``, ``POST /internal/dcs/{name}/{action}`` and
    ``POST /internal/leaders/rebalance`` behind ``guard``."""
    pending: set[asyncio.Task[Any]] = set()  # actions on this gateway's own DC, answered at once

    @app.get("/internal/dcs", dependencies=[Depends(guard)])
    async def dcs_status() -> JSONResponse:
        """Every DC: processes (when a local supervisor runs them), ready, applied positions and
        lag, the stream leaders it holds, connected clients."""
        try:
            answer = await control.call(config, {"action": "status"}, timeout_s=30)
        except control.NoSupervisor:
            answer = msgspec.to_builtins(await dcops.status(config))
        return JSONResponse(answer)

    @app.post("/internal/dcs/{name}/{action}", dependencies=[Depends(guard)])
    async def dc_action(name: str, action: Action, wait: bool = False) -> JSONResponse:
        """stop, start, burn, rebuild (local cluster only) or evacuate DC ``name``. With
        ``wait=true`` start and rebuild answer once the DC serves again."""
        try:
            config.dc(name)
        except ConfigError as exc:
            raise NotFound(exc.message, code="unknown_dc") from exc
        if action == "evacuate":
            return JSONResponse(await dcops.evacuate(config, name))
        request = {"action": action, "dc": name, "wait": wait}
        if not control.socket_path(config).exists():
            raise FirebreakError(NOT_SUPERVISED.format(action=action), code="not_supervised", status=501)
        if name == own_dc and action != "start":
            # This gateway is among the processes to stop: it could not send the answer after.
            task = asyncio.create_task(_forward(config, request))
            pending.add(task)
            task.add_done_callback(_finished(pending))
            return JSONResponse({"dc": name, "action": action, "accepted": True}, status_code=202)
        return JSONResponse(await _forward(config, request))

    @app.post("/internal/leaders/rebalance", dependencies=[Depends(guard)])
    async def rebalance() -> JSONResponse:
        """Spreads the stream leaders over the DCs at once (the leader balancer does it by itself
        within seconds; this is for an operator who does not want to wait)."""
        return JSONResponse({"leaders": await dcops.rebalance(config)})


def _finished(pending: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a DC action asked of this gateway failed", exc_info=task.exception())

    return done


async def _forward(config: Config, request: dict[str, Any]) -> dict[str, Any]:
    try:
        return await control.call(config, request)
    except control.NoSupervisor as exc:
        raise FirebreakError(
            NOT_SUPERVISED.format(action=request["action"]), code="not_supervised", status=501
        ) from exc
