"""`firebreak chat` through a pty while DCs go down, on a cluster of its own (these tests kill
processes): a message typed while the log cannot take writes is shown pending and delivered
exactly once when it can again; the status names the DC actually in use."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from firebreak.client import Client
from firebreak.localcluster import LocalCluster
from tests.chat_terminal import PASSWORD, ChatTerminal, line_of, signed_in
from tests.helpers import cluster_config, local_cluster, settled


@pytest.fixture(scope="module")
async def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = local_cluster(cluster_config(Path(tmp_path_factory.mktemp("chat-outage"))))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


async def _history_texts(cluster: LocalCluster, token: str, room_id: str, dc: int) -> list[str]:
    async with Client([cluster.config.dcs[dc].http_url], retry_deadline=10) as reader:
        reader.token = token
        return [m.text for m in (await reader.history(room_id, limit=100)).messages]


@pytest.mark.slow  # an outage proof of half a minute: the slow set (pyproject.toml)
async def test_message_typed_without_quorum_is_pending_then_sent_once(own_cluster: LocalCluster) -> None:
    cluster = own_cluster
    alice, bob = f"alice_{secrets.token_hex(3)}", f"bob_{secrets.token_hex(3)}"
    a = await signed_in(cluster, alice, "dc1", register=True)
    b: ChatTerminal | None = None
    try:
        b = await signed_in(cluster, bob, "dc1", register=True)
        a.type(f"/dm {bob}")
        await a.see(f"now chatting with 1 {bob}")
        a.type("before the outage")
        await a.expect(line_of(bob, "me", "before the outage") + " ✓")
        await b.expect(line_of(alice, alice, "before the outage"))

        for name in ("dc2", "dc3"):  # two of three DCs: the log has no quorum
            cluster.kill(name, burn=False)
        a.type("during the outage")
        await a.expect(line_of(bob, "me", "during the outage") + r" \(pending\)", within_s=10)
        a.type("/whoami")
        await a.expect(r"connected via dc1.*; 1 message\(s\) pending")
        # The outage outlasts the gateway's own write deadline (12 s), so the chat's first attempt
        # is refused and only its retries, with the same client id, can deliver the message.
        await a.printed("the log is not taking writes right now", within_s=30)
        await a.expect(r"still waiting for the log \(\w+\): 1 message\(s\) pending, the oldest for \d+ s", 60)
        assert a.count("the log is not taking writes right now") == 1, "one notice for the outage"
        for name in ("dc2", "dc3"):
            cluster.start_nats(name)
            cluster.start_gateway(name)
        await cluster.wait_ready()
        await a.expect(rf"\[{bob}\] ✓ sent: during the outage", within_s=90)
        before = await b.see("during the outage", within_s=30)
        b.type("/whoami")
        after = await b.see("connected via dc1")
        assert "during the outage" not in after, "bob saw the message twice"
        assert "before the outage" not in before

        session = Client([d.http_url for d in cluster.config.dcs])
        await session.login(alice, PASSWORD)
        room = (await session.open_direct(bob)).room_id
        await session.aclose()
        assert session.token is not None
        await settled(cluster)
        for dc in range(3):
            texts = await _history_texts(cluster, session.token, room, dc)
            assert texts == ["before the outage", "during the outage"], f"dc{dc + 1}: {texts}"
        await a.quit()
        await b.quit()
    finally:
        a.close()
        if b is not None:
            b.close()
        for name in ("dc2", "dc3"):  # a failure above must not leave the next test without quorum
            if name not in cluster.nats:
                cluster.start_nats(name)
                cluster.start_gateway(name)
        await cluster.wait_ready()


async def test_status_follows_the_connection_to_another_dc(own_cluster: LocalCluster) -> None:
    cluster = own_cluster
    name = f"carol_{secrets.token_hex(3)}"
    term = await signed_in(cluster, name, "dc1", register=True)
    try:
        cluster.kill("dc1", burn=False)
        await term.see("lost the connection to dc1: reconnecting", within_s=15)
        await term.expect(r"connected again, via dc[23]", within_s=30)
        term.type("/whoami")
        await term.expect(rf"-- {name}: connected via dc[23]\r\n")
        await term.quit()
    finally:
        term.close()
