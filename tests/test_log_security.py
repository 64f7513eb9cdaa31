"""Least privilege in the log and TLS on its links (issue 14), against a real cluster.

The ops credential sees stream state and moves leaders, and nothing else: it cannot read the token
signing key or any event, nor write one. No client credential, the gateways' included, can delete
or purge the log. With ``[tls]`` the whole cluster (client and route links) runs on certificates
from ``firebreak tls-certs``, and a client that does not speak TLS, or does not trust the CA, is
refused."""

from __future__ import annotations

import ssl
from dataclasses import replace
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS

from firebreak.adapters import nats_connect
from firebreak.adapters.ephemeral import PRESENCE_PREFIX, TYPING_SUBJECT
from firebreak.adapters.log_setup import SECRETS_BUCKET, TOKEN_KEY_NAME
from firebreak.adapters.object_files import FILES_STREAM, UPLOADS_STREAM
from firebreak.adapters.oidc_store import OIDC_BUCKET
from firebreak.client import Client
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.ids import ACCOUNTS_STREAM, room_subject
from firebreak.entrypoints.certs import make_certs
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, eventually, local_cluster

VIOLATION = "permissions violation"


async def _connect(config: Config, user: str, password: str, errors: list[str]) -> NATS:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    return await nats.connect(
        config.dcs[0].nats_url,
        user=user,
        password=password,
        tls=nats_connect.tls_context(config),
        allow_reconnect=False,
        connect_timeout=5,
        error_cb=on_error,
    )


@pytest.fixture
async def cluster(tmp_path: Path) -> LocalCluster:  # type: ignore[misc]
    running = local_cluster(cluster_config(tmp_path / "data"))
    await running.start()
    try:
        yield running
    finally:
        running.stop()


async def test_the_ops_credential_reads_state_but_no_secret_no_event_and_writes_nothing(
    cluster: LocalCluster,
) -> None:
    config = cluster.config
    client = Client([dc.http_url for dc in config.dcs])
    await client.register("alice", "a long password")
    await client.login("alice", "a long password")
    room = (await client.create_group("ours", [])).room_id
    await client.send(room, "secret plans", client_id="c1")
    await client.aclose()

    errors: list[str] = []
    ops = await _connect(config, config.secrets.ops_nats_user, config.secrets.ops_nats_password, errors)
    try:
        js = ops.jetstream(timeout=2)
        # What operators need: stream state (status) and leader moves (evacuate, spread).
        info = await js.stream_info(ACCOUNTS_STREAM)
        assert info.state.last_seq >= 1
        stepdown = await ops.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{ACCOUNTS_STREAM}", b"", timeout=5)
        assert b"error" not in stepdown.data or b"not found" not in stepdown.data
        # What it must not: the token signing key, any event, any write.
        with pytest.raises((nats.errors.Error, nats.js.errors.Error, TimeoutError)):
            kv = await js.key_value(SECRETS_BUCKET)
            await kv.get(TOKEN_KEY_NAME)
        with pytest.raises((nats.errors.Error, nats.js.errors.Error, TimeoutError)):
            await js.get_msg(ACCOUNTS_STREAM, 1)
        # Nor the login provider's signing keys (docs/LOGIN.md).
        with pytest.raises((nats.errors.Error, nats.js.errors.Error, TimeoutError)):
            await js.get_msg(f"KV_{OIDC_BUCKET}", subject=f"$KV.{OIDC_BUCKET}.keys")
        forged = ev.MessageSent(v=1, at=0, room_id=room, sender="u_x", client_id="forged", text="boo")
        with pytest.raises((nats.errors.Error, nats.js.errors.Error, TimeoutError)):
            await js.publish(room_subject(room, config.partitions), ev.encode(forged), timeout=2)
        with pytest.raises((nats.errors.Error, nats.js.errors.Error, TimeoutError)):
            sub = await js.subscribe(room_subject(room, config.partitions))
            await sub.next_msg(timeout=2)
        # Nor forge or overhear typing and presence (core subjects, adapters/ephemeral.py).
        await ops.publish(TYPING_SUBJECT, b"{}")
        await ops.subscribe(PRESENCE_PREFIX + "*")
        await ops.flush(timeout=2)

        async def refused_both() -> bool:
            said = " ".join(errors)
            return (
                f'publish to "{TYPING_SUBJECT}"' in said and f'subscription to "{PRESENCE_PREFIX}*"' in said
            )

        await eventually(refused_both, within_s=5, what="the ephemeral subjects refused")
    finally:
        await ops.close()
    assert any(VIOLATION in e for e in errors), errors


#: The streams the erasures below aim at: each must keep its messages.
KEPT = (ACCOUNTS_STREAM, f"KV_{SECRETS_BUCKET}", f"KV_{OIDC_BUCKET}", FILES_STREAM, UPLOADS_STREAM)


async def test_no_client_credential_can_erase_the_log(cluster: LocalCluster) -> None:
    config = cluster.config
    client = Client([dc.http_url for dc in config.dcs])
    await client.register("alice", "a long password")
    await client.aclose()
    errors: list[str] = []
    s = config.secrets
    for user, password in ((s.nats_user, s.nats_password), (s.ops_nats_user, s.ops_nats_password)):
        nc = await _connect(config, user, password, errors)
        try:
            # A refused request gets no answer, only its wait: a short one. Whether anything was
            # erased is read from the streams afterwards, not from the answers.
            js = nc.jetstream(timeout=0.5)
            before = [(await js.stream_info(name)).state for name in KEPT]
            for erase in (
                js.delete_stream(ACCOUNTS_STREAM),
                js.purge_stream(ACCOUNTS_STREAM),
                js.delete_msg(ACCOUNTS_STREAM, 1),
                js.delete_key_value(SECRETS_BUCKET),
                js.delete_key_value(OIDC_BUCKET),
                js.purge_stream(f"KV_{OIDC_BUCKET}"),
                js.purge_stream(FILES_STREAM),
                js.delete_stream(UPLOADS_STREAM),
            ):
                with pytest.raises((nats.errors.Error, nats.js.errors.Error, TimeoutError)):
                    await erase
            js = nc.jetstream(timeout=5)
            after = [(await js.stream_info(name)).state for name in KEPT]
            assert [(a.first_seq, a.messages) for a in after] == [
                (b.first_seq, b.messages) for b in before
            ], user
        finally:
            await nc.close()
    assert any(VIOLATION in e for e in errors), errors


async def test_a_cluster_with_tls_serves_and_refuses_clients_without_it(tmp_path: Path) -> None:
    plain = cluster_config(tmp_path / "data")
    config = replace(plain, tls=make_certs(plain, tmp_path / "certs"))
    cluster = local_cluster(config)
    try:
        await cluster.start()
        # The streams are R3: writes acknowledged and read at another DC crossed TLS routes.
        writer = Client([config.dcs[0].http_url])
        await writer.register("alice", "a long password")
        await writer.login("alice", "a long password")
        room = (await writer.create_group("over tls", [])).room_id
        await writer.send(room, "hello", client_id="c1")
        reader = Client([config.dcs[2].http_url])
        await reader.login("alice", "a long password")

        async def arrived() -> bool:
            return [m.client_id for m in (await reader.history(room)).messages] == ["c1"]

        await eventually(arrived, within_s=20, what="the message at dc3")
        await writer.aclose()
        await reader.aclose()

        s = config.secrets
        nc = await nats_connect.connect(config, prefer_dc="dc2", name="tls-test")
        assert nc.is_connected
        await nc.close()
        with pytest.raises(Exception):  # noqa: B017 - nats-py raises several types for a refusal
            await nats.connect(
                config.dcs[0].nats_url,
                user=s.nats_user,
                password=s.nats_password,
                allow_reconnect=False,
                connect_timeout=3,
            )
        stranger = ssl.create_default_context()  # trusts the system's CAs, not the cluster's
        with pytest.raises(Exception):  # noqa: B017
            await nats.connect(
                config.dcs[0].nats_url,
                user=s.nats_user,
                password=s.nats_password,
                tls=stranger,
                allow_reconnect=False,
                connect_timeout=3,
            )
    finally:
        cluster.stop()
