"""The write hint (docs/API.md) on a real cluster: each gateway knows which DC leads each stream
and follows a leader that moves (adapters/leader_watch.py); a send's answer names that DC in
``Firebreak-Write-Url``; the client sends the room's next writes there and falls back to other
DCs when it does not answer. (Losing the leader's DC with hints in use is covered by
test_failover and the drill tests, whose clients follow the hints.)"""

from __future__ import annotations

import asyncio
import secrets
import socket

import pytest

from firebreak.adapters import leadership, log_setup, nats_connect
from firebreak.adapters.leader_watch import StreamLeaders
from firebreak.client import Client
from firebreak.domain.ids import partition_of, room_stream
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, eventually


async def test_leaders_are_learned_and_followed(cluster: LocalCluster) -> None:
    config = cluster.config
    nc = await nats_connect.connect(config, prefer_dc="dc1", name="test-leaders")
    streams = list(log_setup.stream_subjects(config.partitions))
    # A poll slower than the test: following the move below needs the advisory.
    leaders = StreamLeaders(nc, streams, refresh_s=600)
    task = asyncio.create_task(leaders.run())
    stream = room_stream(0)
    try:
        actual = await leadership.leaders(config)

        async def learned() -> bool:
            return all(leaders.leader(s) == actual[s] for s in streams)

        await eventually(learned, within_s=15, what="every stream's leader to be known")
        other = next(dc.name for dc in config.dcs if dc.name != actual[stream])
        try:
            assert (await leadership.move(config, {stream: other}))[stream] == other

            async def moved() -> bool:
                return leaders.leader(stream) == other

            await eventually(moved, within_s=15, what=f"{stream}'s new leader {other} to be known")
        finally:
            await leadership.spread(config)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await nc.close()


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
