"""A stream's state is taken from its leader's answer, even when a follower that believes the
stream leaderless answers first (adapters/leader_info.py). A real cluster; the two answers come
from a stand-in API on its own prefix (which node answers first is the cluster's timing, not
something a test can arrange, and nats-server keeps its own API's subjects to itself)."""

from __future__ import annotations

import json

import pytest
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from firebreak.adapters import nats_connect
from firebreak.adapters.leader_info import leader_stream_info
from firebreak.adapters.nats_connect import NotReady
from firebreak.adapters.nats_log import Log
from firebreak.localcluster import LocalCluster

STANDIN = "$STANDIN.API"


def _answer(leader: str, peers: list[str], last_seq: int) -> bytes:
    return json.dumps(
        {
            "type": "io.nats.jetstream.api.v1.stream_info_response",
            "config": {"name": "S", "subjects": ["s.>"]},
            "created": "2026-12-01T00:00:00Z",
            "state": {"messages": last_seq, "bytes": 0, "first_seq": 1, "last_seq": last_seq,
                      "consumer_count": 0},
            "cluster": {"name": "firebreak", "leader": leader,
                        "replicas": [{"name": p, "current": True, "active": 0} for p in peers]},
        }
    ).encode()  # fmt: skip


async def test_the_leaders_answer_counts_not_the_first(cluster: LocalCluster) -> None:
    config = cluster.config
    nc = await nats_connect.connect(config, config.dcs[0].name, "leader-info-test")
    try:

        async def follower_then_leader(msg: Msg) -> None:
            # A follower (dc1) that names the leader among its peers answers first, from its
            # empty replica; then the leader (dc2), whose answer lists the two others (one
            # connection: they arrive in this order).
            await nc.publish(msg.reply, _answer("dc2", ["dc2", "dc3"], 0))
            await nc.publish(msg.reply, _answer("dc2", ["dc1", "dc3"], 51))

        sub = await nc.subscribe(f"{STANDIN}.STREAM.INFO.S", cb=follower_then_leader)
        info = await leader_stream_info(nc, "S", timeout_s=2.0, api_prefix=STANDIN)
        assert info.state.last_seq == 51
        await sub.unsubscribe()

        async def leaderless(msg: Msg) -> None:
            await nc.publish(msg.reply, _answer("", ["dc2", "dc3"], 0))

        sub = await nc.subscribe(f"{STANDIN}.STREAM.INFO.S", cb=leaderless)
        with pytest.raises(NotReady):
            await leader_stream_info(nc, "S", timeout_s=0.3, api_prefix=STANDIN)
        await sub.unsubscribe()

        # The real API: a stream no node has is refused, and the refusal is what is raised.
        with pytest.raises(NotFoundError):
            await leader_stream_info(nc, "NO_SUCH_STREAM", timeout_s=0.3)
    finally:
        await nc.close()


async def test_last_seq_asks_again_until_the_leader_answers(cluster: LocalCluster) -> None:
    """A node that has just rejoined with an empty store answers for a stream it thinks leaderless
    from its own replica: "stream not found" before it has made its copy, then last_seq 0, naming
    no leader or naming the leader among its peers. Only the leader's answer counts."""
    config = cluster.config
    nc = await nats_connect.connect(config, config.dcs[0].name, "leader-info-test")
    rounds: list[list[bytes]] = [
        [b'{"error": {"code": 404, "err_code": 10059, "description": "stream not found"}}'],
        [_answer("", ["dc1", "dc2", "dc3"], 0)],
        [_answer("dc2", ["dc2", "dc3"], 0)],
        [_answer("dc2", ["dc2", "dc3"], 0), _answer("dc2", ["dc1", "dc3"], 42)],
    ]

    async def answer(msg: Msg) -> None:
        for one in rounds.pop(0):
            await nc.publish(msg.reply, one)

    sub = await nc.subscribe(f"{STANDIN}.STREAM.INFO.S", cb=answer)
    try:
        log = Log(nc, nc.jetstream(), attempt_s=0.2, api_prefix=STANDIN)
        assert await log.last_seq("S", deadline_s=10.0) == 42
        assert rounds == [], "asked once per round, until the leader's answer"
    finally:
        await sub.unsubscribe()
        await nc.close()
