"""Room ids reveal nothing: a room that is not yours is answered exactly like no room at all, and
1:1 room ids cannot be computed from the two users (docs/SECURITY.md)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import httpx

from firebreak.adapters import nats_connect
from firebreak.adapters.nats_log import Log
from firebreak.client import Client
from firebreak.domain import events as ev
from firebreak.domain.ids import room_subject
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, eventually, pinned, settled, user

#: Every route that names a room: (method, path after the room id, body).
ROOM_ROUTES: list[tuple[str, str, object]] = [
    ("GET", "", None),
    ("PATCH", "", {"name": "mine now", "request_id": "p-rename"}),
    ("POST", "/members", {"members": ["nobody_here"], "request_id": "p-invite"}),
    ("POST", "/leave", {"request_id": "p-leave"}),
    ("GET", "/messages", None),
    ("POST", "/messages", {"client_id": "p-send", "text": "hello?"}),  # the hot lane
    ("POST", "/messages/batch", {"messages": [{"client_id": "p-batch", "text": "hello?"}]}),
    ("POST", "/read", {"up_to": 1}),
    ("POST", "/typing", {"typing": True}),
    ("GET", "/presence", None),
]


def _unkeyed_direct_id(user_a: str, user_b: str) -> str:
    """How 1:1 room ids were once made: a plain digest that anyone knowing the usernames could
    compute. Logs written then still hold such ids."""
    h = hashlib.sha256()
    for part in ("direct", *sorted((user_a, user_b))):
        h.update(part.encode() + b"\x00")
    return "d_" + h.hexdigest()[:24]


async def _answers(cluster: LocalCluster, token: str, room_id: str) -> list[tuple[int, bytes]]:
    """Status and body of every room route for ``room_id``, asked of each DC."""
    out = []
    for dc in cluster.config.dcs:
        async with httpx.AsyncClient(base_url=dc.http_url) as http:
            for method, tail, body in ROOM_ROUTES:
                resp = await http.request(
                    method,
                    f"/v1/rooms/{room_id}{tail}",
                    headers={"authorization": f"Bearer {token}"},
                    json=body,
                )
                out.append((resp.status_code, resp.content))
    return out


async def test_a_room_not_yours_is_answered_like_no_room(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice, bob = await user(make_client, 0, "pa"), await user(make_client, 1, "pb")
    carol, eve = await user(make_client, 2, "pc"), await user(make_client, 0, "pe")
    assert alice.user and bob.user and carol.user and eve.user
    direct = await alice.open_direct(bob.user.username)
    group = await alice.create_group("private", [bob.user.username, carol.user.username])
    await alice.send(direct.room_id, "between us")
    await alice.send(group.room_id, "among us")
    await carol.leave(group.room_id)
    await settled(cluster)

    assert eve.token and carol.token
    nothing_d = await _answers(cluster, eve.token, "d_" + secrets.token_hex(12))
    assert {status for status, _ in nothing_d} == {404}
    assert all(b'"unknown_room"' in body for _, body in nothing_d)
    assert await _answers(cluster, eve.token, "g_" + secrets.token_hex(12)) == nothing_d
    assert await _answers(cluster, eve.token, direct.room_id) == nothing_d, "a stranger, a DM"
    assert await _answers(cluster, eve.token, group.room_id) == nothing_d, "a stranger, a group"
    # a member who left is a stranger to the room from then on (docs/DECISIONS.md)
    assert await _answers(cluster, carol.token, group.room_id) == nothing_d, "a member who left"
    # and none of it changed anything
    assert [m.text for m in (await bob.history(direct.room_id)).messages] == ["between us"]
    detail = await bob.room(group.room_id)
    assert detail.room.name == "private" and len(detail.members) == 2


async def test_two_dcs_opening_a_dm_at_once_get_one_room(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    for _ in range(3):
        alice, bob = await user(make_client, 0, "qa"), await user(make_client, 1, "qb")
        assert alice.user and bob.user
        mine, theirs = await asyncio.gather(
            alice.open_direct(bob.user.username), bob.open_direct(alice.user.username)
        )
        assert mine.room_id == theirs.room_id
        assert mine.room_id != _unkeyed_direct_id(alice.user.user_id, bob.user.user_id), (
            "a 1:1 room's id must not be computable from the two users"
        )
        await settled(cluster)
        for dc in range(3):
            for who in (alice, bob):
                rooms = (await pinned(make_client, who, dc).rooms()).rooms
                assert [r.room_id for r in rooms] == [mine.room_id]


async def test_a_dm_with_an_unkeyed_id_is_found_again(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    """A 1:1 room created when ids were plain digests is still the pair's room: opening it again,
    from any DC, never creates a second one."""
    alice, bob = await user(make_client, 0, "ra"), await user(make_client, 2, "rb")
    assert alice.user and bob.user
    old_id = _unkeyed_direct_id(alice.user.user_id, bob.user.user_id)
    created = ev.RoomCreated(
        v=1,
        at=1,
        room_id=old_id,
        kind="direct",
        name="",
        creator=alice.user.user_id,
        members=(bob.user.user_id,),
    )
    nc = await nats_connect.connect(cluster.config, prefer_dc=cluster.config.dcs[0].name, name="test-old-dm")
    try:
        log = Log(nc, nc.jetstream(timeout=10))
        subject = room_subject(old_id, cluster.config.partitions)
        await log.append(subject, ev.encode(created), f"create:{old_id}", expect_empty_subject=True)
    finally:
        await nc.close()

    async def listed_everywhere() -> bool:
        for dc in range(3):
            rooms = (await pinned(make_client, alice, dc).rooms()).rooms
            if [r.room_id for r in rooms] != [old_id]:
                return False
        return True

    await eventually(listed_everywhere, what="the old 1:1 room in every DC")
    clients: list[Client] = [pinned(make_client, alice, 1), pinned(make_client, bob, 2)]
    again = await asyncio.gather(
        clients[0].open_direct(bob.user.username), clients[1].open_direct(alice.user.username)
    )
    assert [r.room_id for r in again] == [old_id, old_id]
    await alice.send(old_id, "still here")
    await settled(cluster)
    for dc in range(3):
        assert [r.room_id for r in (await pinned(make_client, bob, dc).rooms()).rooms] == [old_id]
