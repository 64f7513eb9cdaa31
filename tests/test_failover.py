"""Burn a DC mid-conversation: nothing acknowledged is lost or doubled, and the DC rebuilds from empty.

This test owns its cluster (it destroys a DC), separate from the shared one.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from firebreak.adapters import leadership
from firebreak.client import Client, LiveConnection
from firebreak.domain.ids import partition_of, room_stream
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, collect_messages, digests, eventually, local_cluster


@pytest.fixture(scope="module")
async def burnable(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = local_cluster(cluster_config(Path(tmp_path_factory.mktemp("burn"))))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


async def test_burn_a_dc_under_load_then_rebuild_it(burnable: LocalCluster) -> None:
    cluster = burnable
    http_urls = [d.http_url for d in cluster.config.dcs]
    ws_urls = [d.ws_url for d in cluster.config.dcs]
    tag = secrets.token_hex(3)
    people = []
    for i in range(3):
        client = Client(http_urls, preferred=i, retry_deadline=60)
        await client.register(f"p{i}_{tag}", "correct horse")
        await client.login(f"p{i}_{tag}", "correct horse")
        people.append(client)
    names = [c.user.username for c in people if c.user]
    group = await people[0].create_group("fire drill", names[1:])
    direct = await people[1].open_direct(names[2])
    lives = [LiveConnection(ws_urls, c.current_token, preferred=i).start() for i, c in enumerate(people)]
    await asyncio.gather(*(asyncio.wait_for(lv.live.wait(), 10) for lv in lives))

    # The victim: the DC leading the group room's partition, so the burn forces a Raft election on
    # the path under test (and it is home to one of the three people, so a client must fail over).
    leaders = await leadership.leaders(cluster.config)
    group_stream = room_stream(partition_of(group.room_id, cluster.config.partitions))
    victim = leaders[group_stream]
    assert victim is not None
    led = sorted(s for s, leader in leaders.items() if leader == victim)
    survivors = [d.name for d in cluster.config.dcs if d.name != victim]

    acked: dict[str, list[str]] = {group.room_id: [], direct.room_id: []}
    per_sender = 40
    burned = asyncio.Event()
    longest_wait = [0.0, 0.0, 0.0]

    async def sender(i: int, room_id: str) -> None:
        for k in range(per_sender):
            if k == per_sender // 4 and i == 0:
                cluster.kill(victim, burn=True)
                burned.set()
            started = time.monotonic()
            result = await people[i].send(room_id, f"{i}:{k}", client_id=f"{tag}-{i}-{k}")
            longest_wait[i] = max(longest_wait[i], time.monotonic() - started)
            acked[room_id].append(result.message.client_id)

    await asyncio.gather(sender(0, group.room_id), sender(1, group.room_id), sender(2, direct.room_id))
    assert burned.is_set()
    # A figure, not an assertion: how long the worst send waited for its acknowledgement.
    direct_stream = room_stream(partition_of(direct.room_id, cluster.config.partitions))
    waits = ", ".join(f"{w:.2f}" for w in longest_wait)
    print(
        f"\nburned {victim} (leader of {', '.join(led)}); group in {group_stream}, direct in {direct_stream}"
    )
    print(f"longest send wait per sender (s): {waits}")

    # Every acknowledged message is in every surviving DC exactly once, in one order.
    reference = None
    for name in survivors:
        reader = Client([cluster.config.dc(name).http_url], retry_deadline=30)
        reader.token = people[1].token
        for room_id, sent in acked.items():
            history = await reader.history(room_id, limit=200)
            ids = [m.client_id for m in history.messages]
            assert Counter(ids) == Counter(sent), f"{name}: lost or duplicated messages in {room_id}"
            assert [m.room_seq for m in history.messages] == list(range(1, len(ids) + 1))
            if room_id == group.room_id:
                reference = reference or ids
                assert ids == reference
        await reader.aclose()

    # Every member's live stream got every message of their rooms exactly once (live or by catch-up).
    expected = {
        0: len(acked[group.room_id]),
        1: len(acked[group.room_id]) + len(acked[direct.room_id]),
        2: len(acked[group.room_id]) + len(acked[direct.room_id]),
    }
    for i, lv in enumerate(lives):
        got, _ = await collect_messages(lv.events, expected[i], within_s=60)
        assert len(got) == len(set(got)) == expected[i], f"member {i} saw duplicates"
        assert lv.events.empty()

    # Rebuild: the burned DC returns with an empty folder and converges to the same state.
    assert not (cluster.dc_dir(victim) / "nats").exists()
    cluster.start_dc(victim)
    await cluster.wait_ready([victim], within_s=90)

    async def converged() -> bool:
        states = await digests(cluster, [d.name for d in cluster.config.dcs])
        heads = {str(s["head"]) for s in states.values()}
        prints = {str(s["digest"]) for s in states.values()}
        return len(heads) == 1 and len(prints) == 1

    await eventually(converged, within_s=60, what="the rebuilt DC to match the others")
    # and it serves: a message sent through the rebuilt DC reaches everyone
    back = Client([cluster.config.dc(victim).http_url], retry_deadline=30)
    back.token = people[1].token
    await back.send(group.room_id, "the DC is back", client_id=f"{tag}-back")
    for i in (0, 1, 2):
        got, _ = await collect_messages(lives[i].events, 1, within_s=30)
        assert got[0][1] == f"{tag}-back"
    await back.aclose()
    for lv in lives:
        await lv.close()
    for client in people:
        await client.aclose()


async def test_restart_keeps_all_data(burnable: LocalCluster) -> None:
    cluster = burnable
    urls = [d.http_url for d in cluster.config.dcs]
    tag = secrets.token_hex(3)
    async with Client(urls, retry_deadline=60) as a, Client(urls, preferred=2, retry_deadline=60) as b:
        await a.register(f"keep_a_{tag}", "correct horse")
        await b.register(f"keep_b_{tag}", "correct horse")
        await a.login(f"keep_a_{tag}", "correct horse")
        await b.login(f"keep_b_{tag}", "correct horse")
        room = await a.open_direct(f"keep_b_{tag}")
        await a.send(room.room_id, "survives a restart")
        cluster.stop()  # SIGTERM everything, as Ctrl-C on `firebreak up` does
        await cluster.start()
        # the old token still works (the signing key is in the log) and the message is there
        for i in range(3):
            reader = Client([urls[i]], retry_deadline=30)
            reader.token = b.token
            texts = [m.text for m in (await reader.history(room.room_id)).messages]
            await reader.aclose()
            assert texts == ["survives a restart"]
