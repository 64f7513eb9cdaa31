"""Edit and delete on a real cluster: the changes reach the other member live, every DC shows the
same, the old text leaves search everywhere, a deleted message's text is gone even from the
WebSocket catch-up, and only the sender may change a message. Reactions: live, counted with who,
the same at every DC."""

from __future__ import annotations

import asyncio
import time

import pytest

from firebreak.client import ApiError
from firebreak.client.live import LiveConnection
from firebreak.domain import events as ev
from firebreak.domain.model import ClientEvent
from firebreak.domain.reactions import REACTIONS
from firebreak.localcluster import LocalCluster
from tests.helpers import ClientFactory, eventually, live, pinned, settled, user

ORIGINAL = "오늘 저녁에 삼겹살 먹으러 갈래?"
EDITED = "오늘 저녁에 갈비 먹으러 갈래?"


async def next_of(conn: LiveConnection, kind: type[ev.RoomEvent], within_s: float = 10.0) -> ClientEvent:
    end = time.monotonic() + within_s
    while True:
        item = await asyncio.wait_for(conn.events.get(), max(0.01, end - time.monotonic()))
        if isinstance(item.event, kind):
            return item


async def test_edit_and_delete_everywhere(cluster: LocalCluster, make_client: ClientFactory) -> None:
    a, b = await user(make_client, 0), await user(make_client, 1)
    assert b.user
    room = (await a.create_group("dinner", [b.user.username])).room_id
    b_live = live(cluster, b, 2)
    await b_live.live.wait()
    start_cursor = b_live.cursor
    sent = (await a.send(room, ORIGINAL)).message
    await a.send(room, "삼겹살 말고 다른 거?")

    # edit at dc1: live at dc2, the same everywhere, search follows
    edited = await pinned(make_client, a, 1).edit_message(room, sent.room_seq, EDITED, client_id="edit-1")
    assert (edited.text, edited.edited_at > 0, edited.deleted) == (EDITED, True, False)
    pushed = await next_of(b_live, ev.MessageEdited)
    assert isinstance(pushed.event, ev.MessageEdited)
    assert (pushed.event.room_seq, pushed.event.text) == (sent.room_seq, EDITED)
    again = await a.edit_message(room, sent.room_seq, EDITED, client_id="edit-1")  # a retry
    assert again == edited
    with pytest.raises(ApiError) as reused:
        await a.edit_message(room, sent.room_seq, "another text", client_id="edit-1")
    assert (reused.value.status, reused.value.code) == (409, "client_id_reused")
    await settled(cluster)
    for dc in range(3):
        reader = pinned(make_client, b, dc)
        assert (await reader.history(room)).messages[0] == edited
        assert [h.room_seq for h in (await reader.search("삼겹살")).hits] == [sent.room_seq + 1]
        assert [h.room_seq for h in (await reader.search("갈비")).hits] == [sent.room_seq]
        versions = (await reader.edit_history(room, sent.room_seq)).versions
        assert [v.text for v in versions] == [ORIGINAL, EDITED]

    # only the sender
    for attempt in (b.edit_message(room, sent.room_seq, "mine now"), b.delete_message(room, sent.room_seq)):
        with pytest.raises(ApiError) as refused:
            await attempt
        assert (refused.value.status, refused.value.code) == (403, "not_your_message")

    # delete at dc2: gone everywhere, from search, from the edit history and the catch-up
    deleted = await pinned(make_client, a, 2).delete_message(room, sent.room_seq)
    assert (deleted.text, deleted.deleted) == ("", True)
    await next_of(b_live, ev.MessageDeleted)
    assert await a.delete_message(room, sent.room_seq) == deleted  # again: the same answer
    with pytest.raises(ApiError) as gone:
        await a.edit_message(room, sent.room_seq, "back?")
    assert (gone.value.status, gone.value.code) == (409, "message_deleted")
    await settled(cluster)
    for dc in range(3):
        reader = pinned(make_client, b, dc)
        assert (await reader.history(room)).messages[0] == deleted
        assert (await reader.search("갈비")).hits == [] and (await reader.search("저녁")).hits == []
        assert (await reader.edit_history(room, sent.room_seq)).versions == []

    replay = live(cluster, b, 0, cursor=start_cursor)
    texts: list[str] = []

    async def replayed() -> bool:
        while not replay.events.empty():
            e = replay.events.get_nowait().event
            if isinstance(e, ev.MessageSent | ev.MessageEdited):
                texts.append(e.text)
        return len(texts) == 3

    await eventually(replayed, what="the catch-up of both sends and the edit")
    assert texts == ["", "삼겹살 말고 다른 거?", ""]  # the send, the second send, the edit
    await replay.close()
    await b_live.close()


async def test_reactions_everywhere(cluster: LocalCluster, make_client: ClientFactory) -> None:
    a, b = await user(make_client, 0), await user(make_client, 1)
    assert a.user and b.user
    room = (await a.create_group("lunch", [b.user.username])).room_id
    a_live = live(cluster, a, 2)
    await a_live.live.wait()
    sent = (await a.send(room, "점심 뭐 먹을까?")).message
    heart, like = REACTIONS[0], REACTIONS[1]
    await pinned(make_client, b, 1).react(room, sent.room_seq, like)
    view = await pinned(make_client, b, 2).react(room, sent.room_seq, heart, request_id="b-heart")
    await pinned(make_client, b, 0).react(room, sent.room_seq, heart, request_id="b-heart")  # a retry
    view = await a.react(room, sent.room_seq, like)
    assert [(r.emoji, r.count, r.users) for r in view.reactions] == [
        (heart, 1, [b.user.user_id]),
        (like, 2, [b.user.user_id, a.user.user_id]),
    ]
    pushed = await next_of(a_live, ev.ReactionAdded)
    assert isinstance(pushed.event, ev.ReactionAdded) and pushed.event.emoji == like
    await settled(cluster)
    for dc in range(3):
        assert (await pinned(make_client, b, dc).history(room)).messages[0].reactions == view.reactions
    removed = await b.react(room, sent.room_seq, like, on=False)
    assert [(r.emoji, r.count) for r in removed.reactions] == [(heart, 1), (like, 1)]
    with pytest.raises(ApiError) as refused:
        await b.react(room, sent.room_seq, "🍕")
    assert (refused.value.status, refused.value.code) == (400, "invalid_reaction")
    await a_live.close()
