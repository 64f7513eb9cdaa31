"""A stream's state as its leader reports it, even while another node answers first.

A stream-info request goes to every node of the cluster. Besides the stream's leader, a member
that believes the stream's group has no leader answers it too, from its own replica (nats-server's
``jsStreamInfoRequest``), and the gateway's own DC's node answers first. A follower believes that
after a leader election until it has heard from the new leader (docs/READ_MODELS.md says how
long). A plain request takes the first answer only, so asking again meanwhile got the same
follower's answer every time. Here one request collects every answer and keeps the leader's.
"""

from __future__ import annotations

import json
import time
from typing import cast

import nats.errors
from nats.aio.client import Client as NATS
from nats.js.api import ClusterInfo, StreamInfo
from nats.js.errors import APIError

from firebreak.adapters.nats_connect import NotReady

#: nats-py's JetStream API prefix (no JetStream domain is configured).
API_PREFIX = "$JS.API"


def answered_by_leader(cluster: ClusterInfo | None) -> bool:
    """Whether a stream-info answer came from the stream's leader, judged from the answer alone.

    An answer names the leader as its answerer sees it and lists the answerer's peers, leaving the
    answerer out (nats-server's ``clusterInfo``). A leaderless member names no leader. A member
    that decided it was leaderless and then heard from the leader while it built the answer names
    the leader but lists it among its peers: that answer still holds the member's own replica,
    which after a rebuild may be empty (seen as a rebuilt DC taking a target of 0 for a stream
    whose leader held 51 entries).
    """
    if cluster is None or not cluster.leader:
        return False
    return all(peer.name != cluster.leader for peer in cluster.replicas or ())


async def leader_stream_info(
    nc: NATS, stream: str, timeout_s: float, api_prefix: str = API_PREFIX
) -> StreamInfo:
    """The leader's answer to one stream-info request, waiting up to ``timeout_s`` for it; then
    raises the first error answered (a stream not known there yet), else NotReady (no leader)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(f"{api_prefix}.STREAM.INFO.{stream}", b"", reply=inbox)
        end = time.monotonic() + timeout_s
        refused: APIError | None = None
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                break
            answer = json.loads(msg.data)
            if "error" in answer:  # e.g. a node that has no copy of the stream yet: the leader may
                refused = refused or APIError.from_error(answer["error"])
                continue
            info = cast(StreamInfo, StreamInfo.from_response(answer))
            if answered_by_leader(info.cluster):
                return info
    finally:
        await sub.unsubscribe()
    if refused is not None:
        raise refused
    raise NotReady(f"stream {stream}: no answer from its leader within {timeout_s} s")
