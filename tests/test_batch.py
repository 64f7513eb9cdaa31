"""Batch sends: one atomic log append per request, in order, all or none, idempotent per message."""

from __future__ import annotations

import pytest

from firebreak.client import ApiError
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, collect_messages, live, pinned, settled, user


async def test_batch_is_ordered_consecutive_and_idempotent(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    sender, reader = await user(make_client, 0, "bat"), await user(make_client, 2, "bat")
    assert reader.user
    room = await sender.create_group("outbox", [reader.user.username])
    watcher = live(cluster, reader, 1)
    await watcher.live.wait()

    await sender.send(room.room_id, "before", client_id="b0")
    items = [(f"b{i}", f"queued {i}") for i in range(1, 6)]
    first = await sender.send_batch(room.room_id, items)
    got = [(r.message.client_id, r.message.room_seq, r.duplicate) for r in first.results]
    assert got == [(f"b{i}", i + 1, False) for i in range(1, 6)], "in order, consecutive, after b0"
    assert [r.message.unread for r in first.results] == [1] * 5

    # The whole batch again (a retry after a lost answer) plus one new message: only that one is new.
    again = await sender.send_batch(room.room_id, [*items, ("b6", "one more"), ("b0", "ignored")])
    assert [(r.message.client_id, r.duplicate) for r in again.results] == [
        *((f"b{i}", True) for i in range(1, 6)),
        ("b6", False),
        ("b0", True),
    ]
    assert again.results[5].message.room_seq == 7
    assert [r.message.unread for r in again.results] == [1] * 7

    messages, _ = await collect_messages(watcher.events, 7)
    assert [cid for _, cid, _ in messages] == [f"b{i}" for i in range(7)], "delivered once each, in order"
    await settled(cluster)
    for dc in range(3):
        history = await pinned(make_client, sender, dc).history(room.room_id)
        assert [m.client_id for m in history.messages] == [f"b{i}" for i in range(7)]
    await watcher.close()


async def test_bad_batches_change_nothing(cluster: LocalCluster, make_client: ClientFactory) -> None:
    sender, other = await user(make_client, 1, "bat"), await user(make_client, 0, "bat")
    assert other.user
    room = await sender.create_group("strict", [other.user.username])
    bad: list[tuple[list[tuple[str, str]], str]] = [
        ([], "invalid_batch"),
        ([("x1", "a"), ("x1", "b")], "invalid_batch"),
        ([(f"y{i}", "a") for i in range(101)], "invalid_batch"),
        ([("z1", "fine"), ("z2", "   ")], "empty_message"),
        ([("z3", "fine"), ("bad id!", "x")], "invalid_client_id"),
    ]
    for items, code in bad:
        with pytest.raises(ApiError) as refused:
            await sender.send_batch(room.room_id, items)
        assert (refused.value.status, refused.value.code) == (400, code), items[:2]
    stranger = await user(make_client, 2, "bat")
    with pytest.raises(ApiError) as outsider:
        await stranger.send_batch(room.room_id, [("s1", "let me in")])
    assert (outsider.value.status, outsider.value.code) == (404, "unknown_room")
    assert (await sender.history(room.room_id)).messages == []
