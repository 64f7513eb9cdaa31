"""adapters/leader_routes.py on a real cluster: appends reach their stream leader's own node over
the direct connection, the routes follow a leader that moves, and a failed attempt falls back to
the main connection. (Losing a whole DC with direct appends on is covered by test_failover and
the drill tests: every gateway runs with them.)"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NATS

from firebreak.adapters import leadership, nats_log
from firebreak.adapters.leader_routes import LeaderRoutes, stream_of
from firebreak.adapters.nats_log import Log
from firebreak.client import Client
from firebreak.config import Config
from firebreak.domain.ids import ACCOUNTS_STREAM, partition_of, room_stream, room_subject
from firebreak.entrypoints.cluster import LocalCluster
from tests.conftest import ClientFactory
from tests.helpers import eventually


def test_stream_of_subjects() -> None:
    assert stream_of("acct.name.alice") == ACCOUNTS_STREAM
    assert stream_of("rooms.2.r-1") == room_stream(2)
    assert stream_of("rooms.x.r-1") is None
    assert stream_of("fbc.rooms.0.r") is None


@pytest.fixture
async def routed(cluster: LocalCluster) -> AsyncIterator[tuple[Config, LeaderRoutes, Log, NATS]]:
    config = cluster.config
    nc = await nats_log.connect(config, prefer_dc="dc1", name="test-routes")
    streams = list(nats_log.stream_subjects(config.partitions))
    routes = LeaderRoutes(config, "dc1", nc, streams, refresh_s=0.5)
    task = asyncio.create_task(routes.run())
    try:
        yield config, routes, Log(nc, nc.jetstream(), routes=routes), nc
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await nc.close()


async def _in_msgs(config: Config, dc: str, connection: str) -> int:
    """Messages the node of ``dc`` received from the client connection named ``connection``."""
    async with httpx.AsyncClient(timeout=5.0) as http:
        conns = (await http.get(f"http://{config.dc(dc).host}:{config.dc(dc).monitor_port}/connz")).json()
    return sum(int(c["in_msgs"]) for c in conns["connections"] if c.get("name") == connection)


async def test_appends_go_to_the_leaders_node_and_follow_it(
    routed: tuple[Config, LeaderRoutes, Log, NATS],
) -> None:
    config, routes, log, main = routed
    # A room subject in a partition led by another DC than the main connection's (dc1).
    subject, stream, leader = "", "", ""
    actual = await leadership.leaders(config)
    for i in range(200):
        subject = room_subject(f"route-test-{i}", config.partitions)
        stream = stream_of(subject) or ""
        if actual[stream] not in (None, "dc1"):
            leader = str(actual[stream])
            break
    assert leader, f"no partition led outside dc1: {actual}"

    async def learned() -> bool:
        return routes.leader(stream) == leader and routes.route(subject)[0] is not main

    await eventually(learned, within_s=15, what=f"the routes to learn that {leader} leads {stream}")
    name = f"gateway-dc1-to-{leader}"
    before = await _in_msgs(config, leader, name)
    for n in range(5):
        appended = await log.append(subject, b"{}", f"route-test-{n}")
        assert appended.stream == stream
    # Five publishes arrived on the leader's node from the direct connection (plus its pings).
    assert await _in_msgs(config, leader, name) >= before + 5

    # The leader moves: the advisory (or the next refresh) moves the route with it.
    other = next(dc.name for dc in config.dcs if dc.name not in ("dc1", leader))
    try:
        assert (await leadership.move(config, {stream: other}))[stream] == other

        async def moved() -> bool:
            return routes.leader(stream) == other

        await eventually(moved, within_s=15, what=f"the routes to follow {stream} to {other}")
        assert (await log.append(subject, b"{}", "route-test-after-move")).stream == stream
    finally:
        await leadership.spread(config)

    # A failed attempt through the direct connection: the main one until the leader is relearned.
    async def direct_again() -> bool:
        return routes.route(subject)[0] is not main

    await eventually(direct_again, within_s=15, what="a direct route after the leaders were spread again")
    routes.failed(subject, routes.route(subject)[0])
    assert routes.leader(stream) is None
    assert routes.route(subject)[0] is main
    await eventually(direct_again, within_s=15, what="the leader to be relearned")


async def test_sends_are_answered_with_and_follow_the_write_hint(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    """A send's answer names the DC leading the room's stream (Firebreak-Write-Url); the client
    sends the room's next writes there, keeps its own current DC, and falls back to the other DCs
    when the named one does not answer."""
    config = cluster.config
    alice = make_client(0)
    name = f"hint_{secrets.token_hex(4)}"
    await alice.register(name, "correct horse")
    await alice.login(name, "correct horse")
    room = await alice.create_group("hints", [])
    stream = room_stream(partition_of(room.room_id, config.partitions))
    leader = (await leadership.leaders(config))[stream]
    urls = [dc.http_url for dc in config.dcs]

    async def hinted() -> bool:
        await alice.send(room.room_id, "hello")
        return alice.write_dc.get(room.room_id) == urls.index(
            next(dc.http_url for dc in config.dcs if dc.name == leader)
        )

    await eventually(hinted, within_s=15, what=f"a send's answer to name {leader}")
    assert alice.current == 0, "the write hint must not move the client's own DC"

    # The named DC stops answering (here: a URL nobody listens on stands in for it).
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}"
    dead.close()
    bob = Client([*urls, dead_url], preferred=0, retry_deadline=30.0)
    try:
        bob.token = alice.token
        bob.write_dc[room.room_id] = len(urls)
        sent = await bob.send(room.room_id, "still delivered")
        assert sent.message.text == "still delivered" and not sent.duplicate
        assert bob.current == 0
        assert bob.write_dc[room.room_id] == alice.write_dc[room.room_id]
    finally:
        await bob.aclose()
