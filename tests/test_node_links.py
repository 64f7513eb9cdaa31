"""Connections to one named DC's node (adapters/node_links.py), on a real cluster: where a
stream's leader is asked when this DC's node answers for it (adapters/nats_log.py)."""

from __future__ import annotations

from firebreak.adapters.nats_log import answered_by_leader
from firebreak.adapters.node_links import NodeLinks
from firebreak.domain.ids import ACCOUNTS_STREAM
from firebreak.localcluster import LocalCluster


async def test_each_dcs_node_is_reached_and_a_streams_leader_answers_at_its_own(
    cluster: LocalCluster,
) -> None:
    links = NodeLinks(cluster.config, "test-node-links", timeout_s=5.0)
    try:
        assert await links.at("nowhere") is None, "a name that is no DC of the cluster"
        leaders = set()
        for dc in cluster.config.dcs:
            js = await links.at(dc.name)
            assert js is not None, f"{dc.name}'s node takes the connection"
            info = await js.stream_info(ACCOUNTS_STREAM)
            assert info.cluster is not None and info.cluster.leader
            leaders.add(info.cluster.leader)
        assert len(leaders) == 1, "every node's question names the same leader"
        at_leader = await links.at(leaders.pop())
        assert at_leader is not None
        assert answered_by_leader((await at_leader.stream_info(ACCOUNTS_STREAM)).cluster)
    finally:
        await links.close()
