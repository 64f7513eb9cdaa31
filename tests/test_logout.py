"""Logout ends the token's live connections in every DC (docs/API.md, docs/SECURITY.md)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

from websockets.asyncio.client import ClientConnection

from firebreak.entrypoints.gateway.hot import WS_UNAUTHORIZED
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, live_socket, next_frame, until_closed

PASSWORD = "a long password"


async def texts_until(ws: ClientConnection, text: str, within_s: float) -> None:
    """Reads frames until one carries ``text``."""
    end = time.monotonic() + within_s
    while text not in await next_frame(ws, end):
        continue


async def test_logout_closes_the_tokens_sockets_in_every_dc(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    """Sockets at dc1 and dc2, logout at dc3: both close within a second with 4401 "logged out",
    after a session_revoked frame, and a message sent right after the logout reaches neither,
    while the same user's other session keeps streaming."""
    tag = secrets.token_hex(3)
    alice, bob = make_client(2), make_client(1)
    await alice.register(f"alice_{tag}", PASSWORD)
    await bob.register(f"bob_{tag}", PASSWORD)
    await bob.login(f"bob_{tag}", PASSWORD)
    kept = (await make_client(0).login(f"alice_{tag}", PASSWORD)).token
    token = (await alice.login(f"alice_{tag}", PASSWORD)).token
    room = await bob.open_direct(f"alice_{tag}")
    ws1, ws2 = [await live_socket(cluster.config.dcs[i].ws_url, token) for i in (0, 1)]
    other = await live_socket(cluster.config.dcs[0].ws_url, kept)
    try:
        await bob.send(room.room_id, "before")
        for ws in (ws1, ws2, other):
            await texts_until(ws, "before", 20)

        await alice.logout()  # at dc3
        after = asyncio.create_task(bob.send(room.room_id, "after"))
        for ws in (ws1, ws2):
            frames = await until_closed(ws, within_s=1.0)
            assert ws.close_code == WS_UNAUTHORIZED and ws.close_reason == "logged out"
            assert frames and frames[-1]["kind"] == "error" and frames[-1]["code"] == "session_revoked"
            assert "after" not in json.dumps(frames), "nothing reaches a logged-out socket"
        await after
        await texts_until(other, "after", 20)  # the user's other session is untouched
    finally:
        for ws in (ws1, ws2, other):
            await ws.close()
