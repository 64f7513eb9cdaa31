"""The gateway process of one DC: read model + HTTP/WebSocket server."""

from __future__ import annotations

import logging

import uvicorn

from firebreak.bootstrap import start_gateway
from firebreak.config import Config
from firebreak.entrypoints.gateway.app import create_app
from firebreak.entrypoints.gateway.websocket import SendNowWebSocketProtocol

log = logging.getLogger(__name__)


async def serve(config: Config, dc_name: str) -> None:
    """Runs until SIGTERM/SIGINT, then commits what the read model has applied (gw.close())."""
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
            # Small JSON frames on fast links: compression costs more CPU than it saves.
            ws_per_message_deflate=False,
            http="httptools",
            # uvicorn's sans-I/O WebSocket protocol, plus synchronous frame writes for the fan-out.
            ws=SendNowWebSocketProtocol,
            # Clients connect directly (no proxy in front): skip X-Forwarded-* rewriting.
            proxy_headers=False,
            ws_ping_interval=10,
            ws_ping_timeout=10,
            timeout_graceful_shutdown=2,
        )
    )
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown of the server.
    try:
        await server.serve()
    finally:
        await gw.close()
