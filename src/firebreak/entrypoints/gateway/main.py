"""The gateway process of one DC: read model + HTTP/WebSocket server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

import uvicorn

from firebreak.bootstrap import Gateway, claim_read_model, start_gateway
from firebreak.config import Config
from firebreak.entrypoints.gateway import gc_policy, liveness
from firebreak.entrypoints.gateway.app import create_app
from firebreak.entrypoints.gateway.listen import listening
from firebreak.entrypoints.gateway.starting import StartingApp
from firebreak.entrypoints.gateway.stop_signals import StopSignals
from firebreak.entrypoints.gateway.websocket import SendNowWebSocketProtocol
from firebreak.service.startup import Startup
from firebreak.tasks import cancel_all

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, without its own signal handling: :func:`serve` has it (stop_signals.py).

    Why: uvicorn 0.54 restores the previous handlers once it has shut down and raises the signal
    again, so the default SIGTERM handler ended the process before ``serve``'s last step (the
    read model's commit) and SIGINT cancelled that step. Guarded by
    tests/test_gateway_crash.py (a gateway stopped with SIGTERM exits 0 with all it served
    committed); uvicorn is pinned (pyproject.toml).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(config: Config, dc_name: str, process: int = 1) -> None:
    """Runs until SIGTERM/SIGINT, then commits what the read model has applied (gw.close()).

    The HTTP port opens at once and answers "starting" (starting.py) while the gateway waits for
    the log; the gateway does not exit because the cluster is slow to form, only on SIGTERM/SIGINT
    or an error that no wait can cure (logged, exit status 1). ``process``: which of the DC's
    gateway processes this is; where the DC has several, they share its port, and each may have
    its own as well (:func:`listening`).
    """
    dc = config.dc(dc_name)
    # Before the port: a second process given this one's number (an operator's slip, a restart
    # while the old one still shuts down) must not share its read model; nor may a number the DC
    # does not have start.
    claim_read_model(config, dc, process)
    startup = Startup(dc.label(process))
    front = StartingApp(dc.name, startup)
    server = _Server(
        uvicorn.Config(
            front,
            host=dc.bind or dc.host,
            port=dc.http_port,
            log_level="warning",
            lifespan="off",
            # Command frames up to twice their limit get an answer (ws_commands.py); larger: close 1009.
            ws_max_size=2 * config.limits.max_ws_frame_bytes,
            # Small JSON frames on fast links: compression costs more CPU than it saves.
            ws_per_message_deflate=False,
            http="httptools",
            # uvicorn's sans-I/O WebSocket protocol, plus synchronous frame writes for the fan-out.
            ws=SendNowWebSocketProtocol,
            # Clients connect directly (no proxy in front): skip X-Forwarded-* rewriting.
            proxy_headers=False,
            # Vanished clients are noticed by the kernel (liveness.py); pings only where it cannot.
            ws_ping_interval=liveness.ping_interval_s(),
            ws_ping_timeout=liveness.UNACKED_LIMIT_S,
            timeout_graceful_shutdown=2,
        )
    )

    async def start() -> Gateway:
        gw = await start_gateway(config, dc.name, startup, process)
        front.serve(create_app(gw))
        gc_policy.settle()  # after startup's allocations, before the sockets' (gc_policy.py)
        log.info("%s: gateway started; serving once the read model has caught up", dc.label(process))
        return gw

    def stop_on_failure(task: asyncio.Task[Gateway]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: the gateway could not start", dc.name, exc_info=task.exception())
            server.should_exit = True

    starting = asyncio.create_task(start(), name="start-gateway")
    starting.add_done_callback(stop_on_failure)
    joining: asyncio.Task[None] | None = None
    failed = False

    def stop() -> None:
        # A graceful shutdown of the server (sockets closed, requests finished), then the finally.
        server.should_exit = True
        if joining is not None:
            joining.cancel()

    # Until the read model is committed: a signal during the close must not end it (stop_signals.py).
    with StopSignals(stop):
        try:
            if process > 1:
                # The kernel deals new connections to every process bound to the port: a further
                # process joins once it serves, while the first answers for the DC as it starts.
                joining = asyncio.create_task(_until_serving(starting, lambda: server.should_exit))
                await asyncio.wait({joining})
                error = None if joining.cancelled() else joining.exception()
                failed = error is not None
                if failed and not _failed(starting):  # a failed start is logged as such
                    log.error("%s: could not join the DC's port", dc.label(process), exc_info=error)
            if not server.should_exit and not failed:
                await server.serve(sockets=listening(dc, process) if dc.gateways > 1 else None)
        finally:
            await cancel_all([starting])  # nothing to do once started
            with contextlib.suppress(BaseException):  # cancelled or failed: nothing to close
                gw = await starting
                await gw.close()
                # What a clean stop leaves in the log (a SIGKILL leaves nothing).
                log.info("%s: gateway stopped; read model committed", dc.label(process))
    if failed or _failed(starting):
        raise SystemExit(1)


def _failed(task: asyncio.Task[Gateway]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


#: How often a further gateway process checks whether it serves yet, before it joins the port.
JOIN_CHECK_S = 0.1


async def _until_serving(starting: asyncio.Task[Gateway], stopped: Callable[[], bool]) -> None:
    """Returns once the gateway serves, or once the process is stopping: the check each round
    ends the loop should the cancellation from ``stop`` be lost (firebreak/tasks.py)."""
    gw = await starting
    while not gw.serving() and not stopped():
        await gw.projector.next_batch(JOIN_CHECK_S)
