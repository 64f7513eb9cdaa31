"""Write limits hold a user to one allowance across the three DCs, for every kind of write, and
every 429 says when to retry; a user's live connections at a DC are capped."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
from websockets.asyncio.client import ClientConnection, connect

from firebreak.client import Client
from firebreak.limits import Limits
from firebreak.localcluster import LocalCluster
from tests.conftest import SHARED_LIMITS
from tests.helpers import ClientFactory, eventually, settled, user

DEFAULTS = Limits()


def retry_after(resp: httpx.Response) -> int:
    """A 429's Retry-After in seconds (checked to be there, and the error code with it)."""
    assert resp.status_code == 429, resp.text
    assert resp.json()["error"]["code"] == "rate_limited"
    return int(resp.headers["retry-after"])


async def pair(make_client: ClientFactory) -> tuple[Client, Client]:
    alice, bob = await user(make_client, 0), await user(make_client, 1)
    assert alice.token and bob.user
    return alice, bob


def auth(client: Client) -> dict[str, str]:
    return {"authorization": f"Bearer {client.token}"}


async def test_sends_over_three_dcs_are_held_to_one_allowance(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    """A flood of single sends (the hot lane) at all three DCs at once: what gets through is the
    cluster-wide burst plus the rate over the flood's duration, plus what the other two DCs can
    have in flight unseen (docs/LIMITS.md), not three gateways' allowances."""
    alice, bob = await pair(make_client)
    assert bob.user
    room = await alice.open_direct(bob.user.username)
    per_dc = 100
    started = time.monotonic()

    async def flood(dc: int) -> list[httpx.Response]:
        url = cluster.config.dcs[dc].http_url + f"/v1/rooms/{room.room_id}/messages"
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50), timeout=30) as http:
            return await asyncio.gather(
                *(
                    http.post(url, json={"client_id": f"f{dc}-{i}", "text": "spam"}, headers=auth(alice))
                    for i in range(per_dc)
                )
            )

    answers = [r for rs in await asyncio.gather(*(flood(dc) for dc in range(3))) for r in rs]
    elapsed = time.monotonic() - started
    accepted = sum(r.status_code == 201 for r in answers)
    refused = [r for r in answers if r.status_code != 201]
    allowance = SHARED_LIMITS.send_burst + SHARED_LIMITS.send_rate_per_s * elapsed
    slack = 2 * SHARED_LIMITS.sends_in_flight
    print(f"accepted {accepted} of {3 * per_dc} in {elapsed:.2f} s; allowance {allowance:.0f} + {slack}")
    assert accepted <= allowance + slack
    assert refused and all(retry_after(r) >= 1 for r in refused)
    await settled(cluster)
    history = await alice.history(room.room_id, limit=200)
    assert len(history.messages) == accepted, "refused sends leave nothing behind"


async def test_batches_spread_over_dcs_share_one_allowance(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice, bob = await pair(make_client)
    assert bob.user
    room = await alice.open_direct(bob.user.username)
    third = SHARED_LIMITS.send_burst // 3

    async def batch(http: httpx.AsyncClient, dc: int, tag: str, size: int) -> httpx.Response:
        url = cluster.config.dcs[dc].http_url + f"/v1/rooms/{room.room_id}/messages/batch"
        body = {"messages": [{"client_id": f"{tag}-{i}", "text": "spam"} for i in range(size)]}
        return await http.post(url, json=body, headers=auth(alice))

    async with httpx.AsyncClient(timeout=30) as http:
        for dc in range(3):  # the whole burst, a third through each DC
            assert (await batch(http, dc, f"a{dc}", third)).status_code == 200
        await settled(cluster)
        # Each DC has seen the other two's batches: what it has is what the rate gave back since
        # (20/s), not the two thirds a DC counting only its own would still have.
        for dc in range(3):
            assert retry_after(await batch(http, dc, f"b{dc}", 2 * third)) >= 1


async def until_refused(
    request: Callable[[int], Awaitable[httpx.Response]], most: int
) -> tuple[int, httpx.Response, float]:
    """Makes requests 0, 1, ... one after the other until one is refused: returns how many were
    accepted before it, the refusal (checked to be a 429 with Retry-After) and the seconds taken."""
    started = time.monotonic()
    for i in range(most):
        resp = await request(i)
        if resp.status_code == 429:
            assert retry_after(resp) >= 1
            return i, resp, time.monotonic() - started
        assert resp.status_code < 300, resp.text
    raise AssertionError(f"none of {most} requests was refused")


#: Writes one DC may not have applied yet when the next request, one after the other, reaches it.
LAG = 2


async def test_room_changes_are_limited_cluster_wide(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice, bob = await pair(make_client)
    group = await alice.create_group("flood", [])
    burst, per_s = DEFAULTS.room_change_burst, DEFAULTS.room_changes_per_min / 60
    async with httpx.AsyncClient(timeout=30) as http:

        async def rename(i: int) -> httpx.Response:  # round-robin over the DCs
            url = cluster.config.dcs[i % 3].http_url + f"/v1/rooms/{group.room_id}"
            return await http.patch(url, json={"name": f"n{i}"}, headers=auth(alice))

        accepted, refused, took = await until_refused(rename, 3 * burst)
        # The group's creation took one.
        assert burst - 1 <= accepted <= burst - 1 + per_s * took + LAG
        # 10 per minute: the next one fits within about 6 s, or a few tokens' time more when writes
        # another DC had not yet applied are paid back first (LAG of them at most).
        assert retry_after(refused) <= (LAG + 1) / per_s + 1
        # Opening a 1:1 room is a room change too, limited with the rest.
        assert bob.user
        url = cluster.config.dcs[0].http_url + "/v1/rooms/direct"
        retry_after(await http.post(url, json={"username": bob.user.username}, headers=auth(alice)))


async def test_display_name_and_mark_read_floods_get_429(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice, bob = await pair(make_client)
    assert bob.user
    room = await alice.open_direct(bob.user.username)
    await alice.send(room.room_id, "one message")
    async with httpx.AsyncClient(timeout=30) as http:

        async def rename_me(i: int) -> httpx.Response:
            url = cluster.config.dcs[i % 3].http_url + "/v1/me"
            return await http.patch(url, json={"display_name": f"Alice {i}"}, headers=auth(alice))

        burst, per_s = DEFAULTS.profile_change_burst, DEFAULTS.profile_changes_per_min / 60
        accepted, _, took = await until_refused(rename_me, 3 * burst)
        assert burst <= accepted <= burst + per_s * took + LAG

        # Marking read past the last message is stored each time (the log clamps it): a flood.
        async def mark(i: int) -> httpx.Response:
            url = cluster.config.dcs[i % 3].http_url + f"/v1/rooms/{room.room_id}/read"
            return await http.post(url, json={"up_to": i + 2}, headers=auth(alice))

        burst, per_s = DEFAULTS.read_burst, DEFAULTS.read_rate_per_s
        accepted, _, took = await until_refused(mark, 10 * burst)
        assert burst <= accepted <= burst + per_s * took + LAG


async def ready(ws: ClientConnection) -> bool:
    frame = json.loads(await ws.recv())
    return bool(frame["kind"] == "ready")


async def test_live_connections_per_user_are_capped(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice = await user(make_client, 0)
    cap = SHARED_LIMITS.max_ws_per_user
    urls = [f"{dc.ws_url}?token={alice.token}" for dc in cluster.config.dcs]

    async def opened(stack: AsyncExitStack, url: str) -> ClientConnection:
        return await stack.enter_async_context(connect(url))

    async with AsyncExitStack() as stack:
        sockets = await asyncio.gather(*(opened(stack, urls[0]) for _ in range(cap)))
        assert all(await asyncio.gather(*(ready(ws) for ws in sockets)))
        async with connect(urls[0]) as extra:
            frame = json.loads(await extra.recv())
            assert frame["kind"] == "error" and frame["code"] == "too_many_connections"
            await extra.wait_closed()
            assert extra.close_code == 4429 and extra.close_reason == "too_many_connections"
        # The cap is per DC: another DC takes the user's next device.
        async with connect(urls[1]) as elsewhere:
            assert await ready(elsewhere)
        # A device that goes away makes room for another.
        await sockets[0].close()

        async def replaced() -> bool:
            async with connect(urls[0]) as again:
                return await ready(again)

        assert await eventually(replaced, within_s=10, what="a freed place")
