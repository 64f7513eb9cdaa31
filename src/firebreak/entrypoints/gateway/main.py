"""The gateway process of one DC: read model + HTTP/WebSocket server."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

from firebreak.bootstrap import start_gateway
from firebreak.config import Config
from firebreak.entrypoints.gateway.app import create_app

log = logging.getLogger(__name__)


async def serve(config: Config, dc_name: str) -> None:
    """Runs until SIGTERM/SIGINT."""
    gw = await start_gateway(config, dc_name)
    dc = gw.dc
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(gw),
            host=dc.bind or dc.host,
            port=dc.http_port,
            log_level="warning",
            lifespan="off",
            ws_max_size=64 * 1024,
            ws_ping_interval=10,
            ws_ping_timeout=10,
            timeout_graceful_shutdown=2,
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        await gw.close()
