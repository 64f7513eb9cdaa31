"""Edits, deletes and reactions as the projection applies them (no cluster): only the sender, within the
rules' caps by the events' own times, an edit history, and a deleted message's text gone from
every table (messages, edit history, search, the stored client events). On a real cluster:
tests/test_message_changes_cluster.py."""

from __future__ import annotations

import asyncio

import msgspec

from firebreak.domain import events as ev
from firebreak.domain.model import ClientEvent
from firebreak.domain.projection import MAX_DELETE_WINDOW_MS, MAX_EDIT_WINDOW_MS
from firebreak.domain.reactions import REACTIONS
from firebreak.limits import CHANGE_WINDOW_CAP_S
from tests.readmodel import Model

ROOM = "g_" + "c" * 24
DAY_MS = 24 * 3600 * 1000


def edit(sender: str, room_seq: int, text: str, at: int, cid: str = "e1") -> ev.MessageEdited:
    return ev.MessageEdited(
        v=1, at=at, room_id=ROOM, sender=sender, room_seq=room_seq, client_id=cid, text=text
    )


def delete(sender: str, room_seq: int, at: int) -> ev.MessageDeleted:
    return ev.MessageDeleted(v=1, at=at, room_id=ROOM, sender=sender, room_seq=room_seq)


def model() -> Model:
    m = Model()
    m.group(ROOM, "u1", "u2")
    m.send(ROOM, "u1", "오늘 저녁에 삼겹살 먹으러 갈래?", at=1000)
    return m


def text_of(m: Model, room_seq: int = 1) -> str:
    row = m.queries.message(ROOM, room_seq)
    assert row is not None
    return row.text


def stored_texts(m: Model) -> list[str]:
    """The text of every stored client event that carries one (WebSocket catch-up serves these)."""
    out = []
    for p in range(2):
        for seq in range(1, 20):
            body = m.queries.event_body(p, seq)
            if body is not None:
                event = msgspec.json.decode(body, type=ClientEvent).event
                if isinstance(event, ev.MessageSent | ev.MessageEdited):
                    out.append(event.text)
    return out


def test_the_sender_edits_and_the_history_keeps_each_text() -> None:
    m = model()
    m.pushed.clear()
    m.apply(edit("u1", 1, "오늘 저녁에 갈비 먹으러 갈래?", at=2000))
    m.apply(edit("u1", 1, "내일 저녁에 갈비 먹으러 갈래?", at=3000, cid="e2"))
    row = m.queries.message(ROOM, 1)
    assert row is not None and (row.text, row.edited_at, row.deleted_at) == (
        "내일 저녁에 갈비 먹으러 갈래?",
        3000,
        0,
    )
    assert m.queries.edit_history(ROOM, 1) == [
        ("오늘 저녁에 삼겹살 먹으러 갈래?", 2000),
        ("오늘 저녁에 갈비 먹으러 갈래?", 3000),
    ]
    # search follows the current text
    assert m.find("u2", "삼겹살").hits == []
    assert [h.room_seq for h in m.find("u2", "갈비 먹으러").hits] == [1]
    # both edits went live to both members
    assert [sorted(a.recipients) for a in m.pushed] == [["u1", "u2"], ["u1", "u2"]]


def test_only_the_sender_within_the_cap_once_per_id() -> None:
    m = model()
    m.apply(edit("u2", 1, "not mine", at=2000))  # another member
    m.apply(edit("u1", 2, "no such message", at=2000))
    m.apply(edit("u1", 1, "too late", at=1000 + MAX_EDIT_WINDOW_MS + 1))
    assert text_of(m) == "오늘 저녁에 삼겹살 먹으러 갈래?"
    m.apply(edit("u1", 1, "just in time", at=1000 + MAX_EDIT_WINDOW_MS))
    m.apply(edit("u1", 1, "the same id again", at=2000))  # a retry after the dedupe window
    assert text_of(m) == "just in time"
    assert len(m.queries.edit_history(ROOM, 1)) == 1
    m.apply(delete("u2", 1, at=2000))
    m.apply(delete("u1", 1, at=1000 + MAX_DELETE_WINDOW_MS + 1))
    assert m.queries.message(ROOM, 1) is not None and text_of(m) == "just in time"


def test_a_member_who_left_changes_nothing() -> None:
    m = model()
    m.apply(ev.MemberLeft(v=1, at=1500, room_id=ROOM, user_id="u1"))
    m.apply(edit("u1", 1, "after leaving", at=2000), delete("u1", 1, at=2000))
    assert text_of(m) == "오늘 저녁에 삼겹살 먹으러 갈래?"


def test_a_deleted_messages_text_is_gone_from_every_table() -> None:
    m = model()
    m.apply(edit("u1", 1, "오늘 저녁에 갈비 먹으러 갈래?", at=2000))
    m.send(ROOM, "u2", "삼겹살 좋아", at=2500)
    m.pushed.clear()
    m.apply(delete("u1", 1, at=3000))
    row = m.queries.message(ROOM, 1)
    assert row is not None and (row.text, row.deleted_at) == ("", 3000)
    assert m.queries.edit_history(ROOM, 1) == [("", 2000)]
    assert [h.room_seq for h in m.find("u1", "삼겹살").hits] == [2]
    assert m.find("u1", "갈비").hits == [] and m.find("u1", "저녁").hits == []
    assert stored_texts(m) == ["", "", "삼겹살 좋아"]
    assert [sorted(a.recipients) for a in m.pushed] == [["u1", "u2"]]
    # nothing more can happen to it
    m.apply(edit("u1", 1, "back again?", at=3500, cid="e9"), delete("u1", 1, at=3600))
    row = m.queries.message(ROOM, 1)
    assert row is not None and (row.text, row.deleted_at) == ("", 3000)
    assert len(m.pushed) == 1


def test_the_configured_windows_cap_equals_the_rules() -> None:
    assert CHANGE_WINDOW_CAP_S * 1000 == MAX_EDIT_WINDOW_MS == MAX_DELETE_WINDOW_MS


HEART, LIKE = REACTIONS[0], REACTIONS[1]


def react(user_id: str, emoji: str, on: bool = True, room_seq: int = 1, at: int = 2000) -> ev.RoomEvent:
    kind = ev.ReactionAdded if on else ev.ReactionRemoved
    return kind(v=1, at=at, room_id=ROOM, user_id=user_id, room_seq=room_seq, emoji=emoji, request_id="r")


def shown(m: Model) -> list[tuple[str, int, list[str]]]:
    history = asyncio.run(m.rooms.history("u1", ROOM, None, None, 10))
    return [(r.emoji, r.count, r.users) for r in history.messages[0].reactions]


def test_reactions_counted_with_who_and_changes_pushed_once() -> None:
    m = model()
    m.pushed.clear()
    m.apply(react("u2", LIKE, at=2000), react("u1", HEART, at=2001), react("u1", LIKE, at=2002))
    m.apply(react("u2", LIKE, at=2003))  # again: already so
    assert shown(m) == [(HEART, 1, ["u1"]), (LIKE, 2, ["u2", "u1"])]
    assert len(m.pushed) == 3
    m.apply(react("u2", LIKE, on=False), react("u2", LIKE, on=False))
    assert shown(m) == [(HEART, 1, ["u1"]), (LIKE, 1, ["u1"])]
    assert len(m.pushed) == 4


def test_reactions_need_a_member_a_live_message_and_the_set() -> None:
    m = model()
    m.apply(react("u3", HEART), react("u1", "🍕"), react("u1", HEART, room_seq=5))
    assert shown(m) == []
    m.apply(react("u2", HEART), delete("u1", 1, at=3000))
    m.apply(react("u1", LIKE, at=3001))
    assert shown(m) == []
    assert m.queries.reactions(ROOM, 1, 1) == {}
