"""Group membership, renames, profiles and the API description, on the shared real cluster."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from firebreak.client import ApiError, UnreadBook
from firebreak.domain.events import MemberLeft, MembersInvited, ReadUpTo, RoomRenamed
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, collect_messages, eventually, live, pinned, settled, user


async def test_invite_leave_rename(cluster: LocalCluster, make_client: ClientFactory) -> None:
    owner, friend, late = await user(make_client, 0), await user(make_client, 1), await user(make_client, 2)
    assert friend.user and late.user
    room = await owner.create_group("plans", [friend.user.username])
    await owner.send(room.room_id, "before you came")

    late_live = live(cluster, late, 2)
    await late_live.live.wait()
    invited = await friend.invite(room.room_id, [late.user.username])
    assert invited.member_count == 3

    # the newcomer hears of the invitation live, has nothing unread, and can read the history
    async def saw_invite() -> bool:
        item = await late_live.events.get()
        return (
            isinstance(item.event, MembersInvited)
            and late.user is not None
            and late.user.user_id in item.event.user_ids
        )

    await eventually(saw_invite, what="the invitation event")
    late_rooms = (await late.rooms()).rooms
    assert [(r.room_id, r.unread) for r in late_rooms] == [(room.room_id, 0)]
    assert [m.text for m in (await late.history(room.room_id)).messages] == ["before you came"]

    renamed = await late.rename(room.room_id, "better plans")
    assert renamed.name == "better plans"
    await settled(cluster)
    for dc in range(3):
        detail = await pinned(make_client, owner, dc).room(room.room_id)
        assert detail.room.name == "better plans"
        assert len(detail.members) == 3

    await late.leave(room.room_id)
    with pytest.raises(ApiError) as gone:
        await late.send(room.room_id, "still here?")
    assert (gone.value.status, gone.value.code) == (404, "unknown_room")
    await owner.send(room.room_id, "after you left")
    seen = []

    async def left_and_renamed() -> bool:
        while not late_live.events.empty():
            seen.append(late_live.events.get_nowait().event)
        return any(isinstance(e, MemberLeft) for e in seen) and any(isinstance(e, RoomRenamed) for e in seen)

    await eventually(left_and_renamed, what="rename and leave events")
    assert (await late.rooms()).rooms == []
    # messages after leaving never reach the leaver, neither by catch-up nor live. A member on the
    # same gateway sees them first: the hub publishes to both in one step, so emptiness is meaningful.
    resumed = live(cluster, late, 0, cursor=late_live.cursor)
    witness = live(cluster, friend, 0)
    await asyncio.gather(resumed.live.wait(), witness.live.wait())
    await late_live.close()
    await owner.send(room.room_id, "one more")
    await friend.send(room.room_id, "and one more")
    got, _ = await collect_messages(witness.events, 2)
    assert [seq for *_, seq in got] == [3, 4]
    assert resumed.events.empty()
    await resumed.close()
    await witness.close()


async def test_display_name_everywhere(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice = await user(make_client, 0)
    me = await alice.request("PATCH", "/v1/me", {"display_name": "Alice Kim"}, type=dict)
    assert me["display_name"] == "Alice Kim"

    async def everywhere() -> bool:
        names = [(await pinned(make_client, alice, dc).me()).display_name for dc in range(3)]
        return names == ["Alice Kim"] * 3

    await eventually(everywhere, what="the new display name in every DC")


async def test_openapi_document(cluster: LocalCluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.config.dcs[1].http_url) as http:
        doc = (await http.get("/openapi.json")).json()
    for path in (
        "/v1/accounts",
        "/v1/sessions",
        "/v1/rooms",
        "/v1/rooms/{room_id}/messages",
        "/v1/rooms/{room_id}/read",
    ):
        assert path in doc["paths"]
    schemas = doc["components"]["schemas"]
    assert {"RoomView", "MessageView", "SendResult", "History"} <= set(schemas)
    ref = doc["paths"]["/v1/rooms/{room_id}/messages"]["post"]["responses"]["201"]["content"][
        "application/json"
    ]
    assert ref["schema"]["$ref"] == "#/components/schemas/SendResult"


async def test_many_concurrent_sends_one_room(cluster: LocalCluster, make_client: ClientFactory) -> None:
    a, b = await user(make_client, 0), await user(make_client, 1)
    assert b.user
    room = await a.open_direct(b.user.username)
    results = await asyncio.gather(*(a.send(room.room_id, f"m{i}", client_id=f"cc{i}") for i in range(40)))
    assert sorted(r.message.room_seq for r in results) == list(range(1, 41))
    await settled(cluster)
    history = await pinned(make_client, b, 2).history(room.room_id, limit=100)
    assert len(history.messages) == 40 and not history.more
    page = await b.history(room.room_id, before=11, limit=5)
    assert [m.room_seq for m in page.messages] == [6, 7, 8, 9, 10] and page.more
    page = await b.history(room.room_id, after=35, limit=10)
    assert [m.room_seq for m in page.messages] == [36, 37, 38, 39, 40] and not page.more


async def test_unread_numbers_update_live(cluster: LocalCluster, make_client: ClientFactory) -> None:
    a, b, c, d = [await user(make_client, i % 3) for i in range(4)]
    names = [x.user.username for x in (b, c, d) if x.user]
    room = await a.create_group("counts", names)
    a_live = live(cluster, a, 0)
    await a_live.live.wait()
    book = UnreadBook()
    for k in range(3):
        await a.send(room.room_id, f"a{k}")
    await b.mark_read(room.room_id, 2)
    await c.send(room.room_id, "c reads by sending")
    await d.leave(room.room_id)
    await b.mark_read(room.room_id, 4)
    await a.send(room.room_id, "last")

    # everything up to the last message and the events before it, applied live
    _, events = await collect_messages(a_live.events, 5)

    async def drained() -> bool:
        while not a_live.events.empty():
            events.append(a_live.events.get_nowait())
        return sum(isinstance(e.event, ReadUpTo) for e in events) == 2 and any(
            isinstance(e.event, MemberLeft) for e in events
        )

    await eventually(drained, what="reads and the leave")
    for item in events:
        book.apply(item)
    server = {m.room_seq: m.unread for m in (await a.history(room.room_id)).messages}
    assert book.rooms[room.room_id] == server
    assert server == {1: 0, 2: 0, 3: 0, 4: 0, 5: 2}, "b and c read #4, d left, #5 is new"
    await a_live.close()
