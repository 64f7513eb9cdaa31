"""A device that stops reading, against a real cluster over real sockets: its socket fills, the
hub hands the session back to its task (service/hub.py, DIRECT -> QUEUED), the backlog limit
(``ws_queue_max``) ends it with 4408, and a resume from the last cursor it got delivers the rest:
every message exactly once, in order. Meanwhile the sender and the cluster are unaffected."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from firebreak.client.client import Client
from firebreak.entrypoints.gateway.hot import WS_SLOW_CONSUMER
from firebreak.limits import Limits
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, local_cluster

BACKLOG = 40
#: 4,000-character messages, 15 per batch (a batch request's body stays under 64 KiB).
TEXT = "x" * 4000
PER_BATCH = 15
#: ~6 MB of frames: more than the kernel buffers (the sender's up to 4 MiB here) and uvicorn's
#: write buffer can hold for a client that reads nothing.
BATCHES = 100


@pytest.fixture
async def small_backlog(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    limits = Limits(send_rate_per_s=10_000.0, send_burst=10_000, ws_queue_max=BACKLOG)
    local = local_cluster(cluster_config(tmp_path / "data", limits))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


def room_seqs(frame: dict[str, object]) -> list[int]:
    data = frame["data"]
    items = cast(list[dict[str, int]], data if isinstance(data, list) else [data])
    return [item["room_seq"] for item in items]


async def next_frame(ws: ClientConnection) -> dict[str, object]:
    while True:
        frame: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["kind"] != "heartbeat":
            return frame


async def test_a_device_that_stops_reading_is_cut_off_and_resumes(small_backlog: LocalCluster) -> None:
    urls = [dc.http_url for dc in small_backlog.config.dcs]
    alice, bob = Client(urls, retry_deadline=30.0), Client(urls, retry_deadline=30.0)
    try:
        for who, name in ((alice, "slow_alice"), (bob, "slow_bob")):
            await who.register(name, "correct horse")
            await who.login(name, "correct horse")
        room = await alice.open_direct("slow_bob")
        url = f"{small_backlog.config.dcs[0].ws_url}?token={bob.token}"
        # Bob's device reads nothing once a frame waits unread (max_queue=1), and its receive
        # buffer is fixed and small.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        sock.connect(("127.0.0.1", small_backlog.config.dcs[0].http_port))
        got: list[int] = []
        async with connect(url, sock=sock, max_queue=1, max_size=1 << 20) as ws:
            ready = await next_frame(ws)
            assert ready["kind"] == "ready"
            cursor = ready["cursor"]
            for b in range(BATCHES):
                items = [(f"m{b}-{i}", TEXT) for i in range(PER_BATCH)]
                result = await alice.send_batch(room.room_id, items)
                assert len(result.results) == PER_BATCH
            # Now Bob reads: whatever the socket held, then the server's close.
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    frame = await next_frame(ws)
                    got += room_seqs(frame)
                    cursor = frame["cursor"]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == WS_SLOW_CONSUMER
        total = BATCHES * PER_BATCH
        assert 0 < len(got) < total, "cut off part-way, after what the socket could hold"
        # Resume from the last cursor Bob got: the rest, once each, in order.
        async with connect(f"{url}&cursor={cursor}", max_size=1 << 20) as ws:
            while True:
                frame = await next_frame(ws)
                if frame["kind"] == "ready":
                    break
                got += room_seqs(frame)
        assert got == list(range(1, total + 1))
    finally:
        await alice.aclose()
        await bob.aclose()
