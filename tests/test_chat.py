"""Chat against a real three-DC cluster: real nats-servers, real HTTP and WebSocket."""

from __future__ import annotations

import asyncio

from firebreak.domain.events import MessageSent, ReadUpTo
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, collect_messages, eventually, live, pinned, settled, user


async def test_two_users_on_different_dcs_chat(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = await user(make_client, 0, "alice"), await user(make_client, 1, "bob")
    assert alice.user and bob.user
    bob_live = live(cluster, bob, 1)
    await asyncio.wait_for(bob_live.live.wait(), 10)

    room = await alice.open_direct(bob.user.username)
    again = await bob.open_direct(alice.user.username)
    assert again.room_id == room.room_id, "the same pair always gets the same 1:1 room"
    assert again.peer is not None and again.peer.username == alice.user.username

    sent = await alice.send(room.room_id, "hello from dc1")
    assert sent.message.unread == 1, "bob has not read it yet"
    reply = await bob.send(room.room_id, "hello from dc2")
    assert (sent.message.room_seq, reply.message.room_seq) == (1, 2)

    got, _ = await collect_messages(bob_live.events, 2)
    assert [m[2] for m in got] == [1, 2]
    await settled(cluster)
    for dc in range(3):
        history = await pinned(make_client, alice, dc).history(room.room_id)
        assert [m.text for m in history.messages] == ["hello from dc1", "hello from dc2"]
        # bob's reply implies he read alice's message: both show 0 unread now
        assert [m.unread for m in history.messages] == [0, 1]
    await bob_live.close()


async def test_group_of_five_over_three_dcs_sees_one_order(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    members = [await user(make_client, i % 3, f"g{i}") for i in range(5)]
    lives = [live(cluster, m, i % 3) for i, m in enumerate(members)]
    await asyncio.gather(*(asyncio.wait_for(lv.live.wait(), 10) for lv in lives))
    names = [m.user.username for m in members if m.user]
    room = await members[0].create_group("five", names[1:])
    assert room.member_count == 5

    per_sender = 8

    async def chat(i: int) -> None:
        for k in range(per_sender):
            await members[i].send(room.room_id, f"{i}:{k}", client_id=f"c{i}-{k}")

    await asyncio.gather(*(chat(i) for i in range(5)))
    total = 5 * per_sender
    orders = [(await collect_messages(lv.events, total))[0] for lv in lives]
    assert all(order == orders[0] for order in orders), "every member sees the same order"
    assert [seq for _, _, seq in orders[0]] == list(range(1, total + 1))
    for i in range(5):  # per-sender order is kept
        mine = [cid for _, cid, _ in orders[0] if cid.startswith(f"c{i}-")]
        assert mine == [f"c{i}-{k}" for k in range(per_sender)]
    histories = [
        await pinned(make_client, members[0], dc).history(room.room_id, limit=200) for dc in range(3)
    ]
    assert histories[0] == histories[1] == histories[2]
    for lv in lives:
        await lv.close()


async def test_retried_send_creates_one_message(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = await user(make_client, 0), await user(make_client, 2)
    assert bob.user
    room = await alice.open_direct(bob.user.username)
    results = [
        await pinned(make_client, alice, dc).send(room.room_id, "once", client_id="same-id")
        for dc in (0, 1, 2, 0)
    ]
    assert {r.message.room_seq for r in results} == {1}
    assert [r.duplicate for r in results] == [False, True, True, True]
    # concurrent retries on every DC at once
    racing = await asyncio.gather(
        *(
            pinned(make_client, alice, dc).send(room.room_id, "race", client_id="race-id")
            for dc in (0, 1, 2) * 3
        )
    )
    assert len({r.message.room_seq for r in racing}) == 1
    assert sum(not r.duplicate for r in racing) <= 1
    for dc in range(3):
        texts = [m.text for m in (await pinned(make_client, alice, dc).history(room.room_id)).messages]
        assert texts == ["once", "race"]


async def test_second_device_receives_everything(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = await user(make_client, 0), await user(make_client, 1)
    assert alice.user and bob.user
    bob_phone = live(cluster, bob, 1)
    bob_laptop_client = make_client(2)
    await bob_laptop_client.login(bob.user.username, "correct horse")
    bob_laptop = live(cluster, bob_laptop_client, 2)
    await asyncio.gather(bob_phone.live.wait(), bob_laptop.live.wait())

    room, bob_id = await alice.open_direct(bob.user.username), bob.user.user_id
    sent = [(await alice.send(room.room_id, f"m{k}")).message.client_id for k in range(5)]
    # The laptop reads; the phone hears of it (bob's read position is per user, not per device).
    await bob_laptop_client.mark_read(room.room_id, 5)
    sent.append((await bob.send(room.room_id, "from the phone")).message.client_id)
    phone, phone_events = await collect_messages(bob_phone.events, 6)
    laptop, _ = await collect_messages(bob_laptop.events, 6)
    assert phone == laptop
    assert [(cid, seq) for _, cid, seq in phone] == [(cid, seq) for seq, cid in enumerate(sent, 1)]

    async def phone_saw_the_read() -> bool:
        while not bob_phone.events.empty():
            phone_events.append(bob_phone.events.get_nowait())
        return any(
            isinstance(e.event, ReadUpTo) and e.event.user_id == bob_id and e.event.room_seq == 5
            for e in phone_events
        )

    await eventually(phone_saw_the_read, what="the laptop's read at the phone")
    rooms = await bob_laptop_client.rooms()
    assert rooms.rooms[0].unread == 0, "bob's own send counts as reading"
    await bob_phone.close()
    await bob_laptop.close()


async def test_read_receipts_and_unread_numbers(cluster: LocalCluster, make_client: ClientFactory) -> None:
    a, b, c = [await user(make_client, dc) for dc in range(3)]
    assert b.user and c.user
    a_live = live(cluster, a, 0)
    await a_live.live.wait()
    room = await a.create_group("reads", [b.user.username, c.user.username])
    first = await a.send(room.room_id, "one")
    second = await a.send(room.room_id, "two")
    assert (first.message.unread, second.message.unread) == (2, 2)
    await settled(cluster)  # b and c read through other DCs
    b_rooms = await b.rooms()
    assert b_rooms.rooms[0].unread == 2 and b_rooms.rooms[0].last_message is not None
    assert b_rooms.rooms[0].last_message.text == "two"

    await b.mark_read(room.room_id, 1)
    await c.mark_read(room.room_id, 2)
    await settled(cluster)
    for dc in range(3):
        page = await pinned(make_client, a, dc).history(room.room_id)
        assert [m.unread for m in page.messages] == [0, 1]
    assert (await b.rooms()).rooms[0].unread == 1
    assert (await c.rooms()).rooms[0].unread == 0
    # reads are pushed live to the sender, in log order after the messages
    _, events = await collect_messages(a_live.events, 2)

    async def reads_seen() -> set[tuple[str, int]] | None:
        while not a_live.events.empty():
            events.append(a_live.events.get_nowait())
        seen = {(e.event.user_id, e.event.room_seq) for e in events if isinstance(e.event, ReadUpTo)}
        return seen if len(seen) == 2 else None

    assert await eventually(reads_seen, what="two read events") == {(b.user.user_id, 1), (c.user.user_id, 2)}
    # marking an older position does not move the read position back
    assert (await c.mark_read(room.room_id, 1)).read_room_seq == 2
    await a_live.close()


async def test_resume_from_cursor_on_another_dc(cluster: LocalCluster, make_client: ClientFactory) -> None:
    alice, bob = await user(make_client, 0), await user(make_client, 1)
    assert bob.user
    room = await alice.open_direct(bob.user.username)
    first = live(cluster, bob, 0)
    # Without a cursor a stream starts when it goes live: wait, or "before" may precede it.
    await first.live.wait()
    await alice.send(room.room_id, "before")
    await collect_messages(first.events, 1)
    cursor = first.cursor
    await first.close()
    for k in range(3):
        await alice.send(room.room_id, f"missed {k}")
    resumed = live(cluster, bob, 2, cursor=cursor)  # a different DC
    await resumed.live.wait()
    got, events = await collect_messages(resumed.events, 3)
    assert [seq for *_, seq in got] == [2, 3, 4]
    assert all(isinstance(e.event, MessageSent) for e in events), "nothing before the cursor is repeated"
    await alice.send(room.room_id, "live again")
    got, _ = await collect_messages(resumed.events, 1)
    assert got[0][2] == 5
    await resumed.close()
