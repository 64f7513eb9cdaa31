"""Bad input gets a clear error (status, stable code, message) and changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect

from firebreak.client import ApiError
from firebreak.localcluster import LocalCluster
from tests.conftest import SHARED_LIMITS
from tests.helpers import ClientFactory, code_of, eventually, pinned, raw, settled, uname, user


async def test_malformed_bodies(cluster: LocalCluster) -> None:
    resp = await raw(cluster, "POST", "/v1/accounts", content=b'{"username": "x')
    assert code_of(resp) == (400, "malformed_request")
    resp = await raw(cluster, "POST", "/v1/accounts", json={"username": "abc", "password": "x" * 10})
    assert code_of(resp) == (400, "malformed_request")  # request_id missing
    resp = await raw(
        cluster,
        "POST",
        "/v1/accounts",
        json={"username": "abc", "password": "x" * 10, "request_id": "r", "extra": 1},
    )
    assert code_of(resp) == (400, "malformed_request")  # unknown field
    resp = await raw(
        cluster,
        "POST",
        "/v1/accounts",
        json={"username": "No Spaces", "password": "x" * 10, "request_id": "r"},
    )
    assert code_of(resp) == (400, "invalid_username")
    resp = await raw(
        cluster, "POST", "/v1/accounts", json={"username": "shortpw", "password": "x", "request_id": "r"}
    )
    assert code_of(resp) == (400, "invalid_password")
    resp = await raw(cluster, "POST", "/v1/accounts", content=b"x" * (SHARED_LIMITS.max_body_bytes + 1))
    assert code_of(resp) == (413, "body_too_large")
    resp = await raw(cluster, "GET", "/v1/nothing-here")
    assert code_of(resp) == (404, "no_such_endpoint")


async def test_username_taken_but_retry_is_fine(cluster: LocalCluster, make_client: ClientFactory) -> None:
    name = uname("taken")
    body = {"username": name, "password": "long enough", "request_id": "first"}
    first = await raw(cluster, "POST", "/v1/accounts", json=body)
    assert first.status_code == 201
    retry = await raw(cluster, "POST", "/v1/accounts", json=body)
    assert retry.status_code == 201 and retry.json() == first.json(), (
        "a retry with the same request_id is the same account"
    )
    other = await raw(cluster, "POST", "/v1/accounts", json={**body, "request_id": "second"})
    assert code_of(other) == (409, "username_taken")
    # racing registrations of one name on all three DCs: exactly one wins
    name = uname("race")
    results = await asyncio.gather(
        *(
            httpx.AsyncClient(base_url=dc.http_url).post(
                "/v1/accounts", json={"username": name, "password": "long enough", "request_id": f"r{i}"}
            )
            for i, dc in enumerate(cluster.config.dcs)
        )
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409]


async def test_tokens(cluster: LocalCluster, make_client: ClientFactory) -> None:
    resp = await raw(cluster, "GET", "/v1/rooms")
    assert code_of(resp) == (401, "missing_token")
    resp = await raw(cluster, "GET", "/v1/rooms", token="fbt1.abc.def")
    assert code_of(resp) == (401, "invalid_token")
    alice = await user(make_client, 0)
    assert alice.token
    forged = alice.token[:-2] + ("AA" if not alice.token.endswith("AA") else "BB")
    assert code_of(await raw(cluster, "GET", "/v1/rooms", token=forged)) == (401, "invalid_token")
    with pytest.raises(ApiError) as bad_login:
        await make_client(1).login(alice.user.username if alice.user else "", "wrong password")
    assert (bad_login.value.status, bad_login.value.code) == (401, "bad_credentials")

    # a token issued in dc1 works in every DC; logout revokes it in every DC
    for i in range(3):
        assert (await pinned(make_client, alice, i).rooms()).rooms == []
    token = alice.token
    await alice.logout()
    for dc in cluster.config.dcs:
        async with httpx.AsyncClient(base_url=dc.http_url) as http:

            async def revoked(http: httpx.AsyncClient = http) -> bool:
                resp = await http.get("/v1/rooms", headers={"authorization": f"Bearer {token}"})
                return resp.status_code == 401 and resp.json()["error"]["code"] == "session_revoked"

            await eventually(revoked, within_s=10, what=f"revocation in {dc.name}")


async def test_a_body_too_large_is_413_with_or_without_its_length(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    """Whether the client says the length (Content-Length) or streams the body (chunked), every
    route answers 413 ``body_too_large`` in JSON with Server-Timing, FastAPI's routes and the hot
    lane alike (a chunked body to a FastAPI route once got 400 ``http_error``)."""
    alice = await user(make_client, 0)
    room = await alice.create_group("big", [])
    big = b'{"client_id": "c", "text": "' + b"x" * (SHARED_LIMITS.max_body_bytes + 10) + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    routes = [
        ("POST", "/v1/accounts"),
        ("POST", f"/v1/rooms/{room.room_id}/messages"),  # the hot lane
        ("PATCH", f"/v1/rooms/{room.room_id}"),
    ]
    for method, path in routes:
        for body in (big, chunks()):
            resp = await raw(cluster, method, path, token=alice.token, content=body)
            assert code_of(resp) == (413, "body_too_large"), (path, type(body).__name__, resp.text)
            assert resp.headers.get("server-timing", "").startswith("app;dur="), "timed like every answer"


async def test_room_errors_change_nothing(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob, eve = (await user(make_client, 0), await user(make_client, 1), await user(make_client, 2))
    assert alice.user and bob.user and eve.user
    room = await alice.open_direct(bob.user.username)
    await alice.send(room.room_id, "first")

    async def status(coro: object) -> tuple[int, str]:
        with pytest.raises(ApiError) as err:
            await coro  # type: ignore[misc]
        return err.value.status, err.value.code

    assert await status(alice.send("d_nonexistent", "x")) == (404, "unknown_room")
    assert await status(eve.send(room.room_id, "intruder")) == (404, "unknown_room")
    assert await status(eve.history(room.room_id)) == (404, "unknown_room")
    assert await status(alice.send(room.room_id, "x" * (SHARED_LIMITS.max_message_chars + 1))) == (
        413,
        "message_too_large",
    )
    assert await status(alice.send(room.room_id, "   ")) == (400, "empty_message")
    assert await status(alice.send(room.room_id, "bad id", client_id="has space")) == (
        400,
        "invalid_client_id",
    )
    assert await status(alice.open_direct("no_such_user_xyz")) == (404, "unknown_user")
    assert await status(alice.open_direct(alice.user.username)) == (400, "cannot_chat_with_self")
    assert await status(alice.invite(room.room_id, [eve.user.username])) == (400, "not_a_group")
    assert await status(alice.history(room.room_id, limit=0)) == (400, "invalid_limit")
    sent = await alice.send(room.room_id, "kept", client_id="reuse")
    await settled(cluster)  # the 409 is a best-effort check against dc2's read model
    assert await status(
        pinned(make_client, alice, 1).send(
            (await alice.create_group("g", [bob.user.username])).room_id, "other room", client_id="reuse"
        )
    ) == (409, "client_id_reused")
    history = await alice.history(room.room_id)
    assert [m.text for m in history.messages] == ["first", "kept"] and sent.message.room_seq == 2


async def test_rate_limit(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = await user(make_client, 0), await user(make_client, 0)
    assert bob.user and alice.token
    room = await alice.open_direct(bob.user.username)
    url = cluster.config.dcs[0].http_url + f"/v1/rooms/{room.room_id}/messages"
    headers = {"authorization": f"Bearer {alice.token}"}
    burst = SHARED_LIMITS.send_burst + 100
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as http:
        results = await asyncio.gather(
            *(
                http.post(url, json={"client_id": f"r{i}", "text": "spam"}, headers=headers)
                for i in range(burst)
            )
        )
    codes = [r.status_code for r in results]
    limited = [r for r in results if r.status_code == 429]
    assert limited, "the burst limit must be reached"
    assert {r.json()["error"]["code"] for r in limited} == {"rate_limited"}
    accepted = codes.count(201)
    history = await alice.history(room.room_id, limit=200)
    assert len(history.messages) == accepted, "refused sends leave nothing behind"


async def test_websocket_refuses_bad_token_cursor_and_heartbeat(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice = await user(make_client, 0)
    base = cluster.config.dcs[0].ws_url
    for query, code, close in (
        ("token=nope", "invalid_token", 4401),
        (f"token={alice.token}&cursor=garbage", "invalid_cursor", 4400),
        (f"token={alice.token}&heartbeat_s=1.5", "invalid_heartbeat", 4400),
        (f"token={alice.token}&heartbeat_s=-30", "invalid_heartbeat", 4400),
    ):
        async with connect(f"{base}?{query}") as ws:
            frame = json.loads(await ws.recv())
            assert frame["kind"] == "error" and frame["code"] == code
            await ws.wait_closed()
            assert ws.close_code == close
