"""The hot lane (plain ASGI single sends and WebSockets, entrypoints/gateway/hot.py) against a real
cluster: the same answers and error codes as the rest of the API, and sessions that end when their
client goes away."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.client import connect

from firebreak.localcluster import LocalCluster
from firebreak.wire.frames import HEARTBEAT_FRAME
from tests.conftest import SHARED_LIMITS
from tests.helpers import ClientFactory, eventually, user


async def test_send_answers_and_errors(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = await user(make_client, 0), await user(make_client, 0)
    assert bob.user and alice.token
    room = await alice.open_direct(bob.user.username)
    path = f"/v1/rooms/{room.room_id}/messages"
    auth = {"authorization": f"Bearer {alice.token}"}

    async with httpx.AsyncClient(base_url=cluster.config.dcs[0].http_url) as http:

        async def post(url: str, *, headers: dict[str, str] = auth, **kw: object) -> tuple[int, str]:
            resp = await http.post(url, headers=headers, **kw)  # type: ignore[arg-type]
            body = resp.json()
            if resp.status_code >= 400:
                assert body["error"]["message"], "every error carries a human message"
                return resp.status_code, body["error"]["code"]
            return resp.status_code, body["message"]["text"]

        first = await http.post(path, headers=auth, json={"client_id": "h1", "text": "hello"})
        assert first.status_code == 201 and first.headers["content-type"] == "application/json"
        assert "server-timing" in first.headers, "the Gatekeeper wraps the lane too"
        again = await http.post(path, headers=auth, json={"client_id": "h1", "text": "hello"})
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["message"] == first.json()["message"]

        malformed = (400, "malformed_request")
        assert await post(path, content=b'{"client_id": "h2"') == malformed
        assert await post(path, json={"client_id": "h2"}) == malformed
        assert await post(path, json={"client_id": "h2", "text": "x", "more": 1}) == malformed
        assert await post(path, json={"client_id": "h2", "text": 5}) == malformed
        assert await post(path, headers={}, json={"client_id": "h2", "text": "x"}) == (401, "missing_token")
        bad = {"authorization": "Bearer fbt1.abc.def"}
        assert await post(path, headers=bad, json={"client_id": "h2", "text": "x"}) == (401, "invalid_token")
        big = b"x" * (SHARED_LIMITS.max_body_bytes + 1)
        assert await post(path, content=big) == (413, "body_too_large")
        assert await post("/v1/rooms/d_nope/messages", json={"client_id": "h2", "text": "x"}) == (
            404,
            "unknown_room",
        )
        # Paths the lane does not own reach FastAPI as before.
        assert await post("/v1/rooms/a/b/messages", json={}) == (404, "no_such_endpoint")
        put = await http.put(path, headers=auth, json={})
        assert (put.status_code, put.json()["error"]["code"]) == (405, "method_not_allowed")
        history = (await http.get(path, headers=auth)).json()
        assert [m["text"] for m in history["messages"]] == ["hello"], "refused sends leave nothing"


async def test_session_ends_when_its_client_goes_away(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice = await user(make_client, 2)
    dc = cluster.config.dcs[2]

    async def connections() -> int:
        async with httpx.AsyncClient(base_url=dc.http_url) as http:
            count: int = (await http.get("/healthz")).json()["connections"]
            return count

    before = await connections()
    async with connect(f"{dc.ws_url}?token={alice.token}") as ws:
        assert '"kind":"ready"' in str(await ws.recv())
        assert await connections() == before + 1
    # Nothing is ever sent to alice: only the client's close can end the session.

    async def released() -> bool:
        return await connections() == before

    await eventually(released, within_s=10, what="the hub to drop the closed session")


async def test_a_quiet_socket_gets_heartbeats_at_the_interval_it_asked_for(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    """With nothing to deliver, the server still says it is there: every ``ws_heartbeat_s``, or
    less often for a client that asked (``?heartbeat_s=``, kept within ``ws_heartbeat_max_s``), as
    its ``ready`` frame states."""
    alice = await user(make_client, 1)
    limits = cluster.config.limits
    every = limits.ws_heartbeat_s
    url = f"{cluster.config.dcs[1].ws_url}?token={alice.token}"
    async with (
        connect(url) as plain,
        connect(f"{url}&heartbeat_s=60") as rare,
        connect(f"{url}&heartbeat_s=100000") as rarest,
    ):
        for ws, stated in ((plain, every), (rare, 60), (rarest, limits.ws_heartbeat_max_s)):
            ready = json.loads(await ws.recv())
            assert ready["kind"] == "ready" and ready["heartbeat_s"] == stated, ready
        heard_rare: list[object] = []

        async def listen() -> None:
            async for frame in rare:
                heard_rare.append(frame)

        listening = asyncio.ensure_future(listen())
        try:
            # Four beats: three intervals at least, in which a socket beaten at the default
            # interval hears two beats or more.
            for _ in range(4):
                assert await asyncio.wait_for(plain.recv(), every + 3) == HEARTBEAT_FRAME
        finally:
            listening.cancel()
        # Its slot is beaten once a minute: at most one beat meanwhile.
        assert heard_rare.count(HEARTBEAT_FRAME) <= 1, heard_rare
