"""Search over a read model built by the projection (no cluster): Korean, Japanese and Chinese
words inside sentences, only the caller's rooms, ranking, highlights, paging, short queries and
bad input. The same results at every DC of a real cluster: tests/test_search_cluster.py."""

from __future__ import annotations

import pytest

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.domain import events as ev
from firebreak.domain.search import make_snippet, parse_snippet
from firebreak.errors import FirebreakError
from firebreak.limits import Limits
from firebreak.wire.views import SearchHit
from tests.readmodel import Model

GROUP, OTHER = "g_" + "a" * 24, "g_" + "b" * 24


def highlighted(hit: SearchHit) -> list[str]:
    return [hit.snippet[a:b] for a, b in hit.highlights]


def test_a_korean_word_inside_a_sentence_is_found_and_highlighted() -> None:
    m = Model()
    m.group(GROUP, "u1", "u2")
    m.send(GROUP, "u1", "오늘 저녁에 삼겹살 먹으러 갈래?")
    m.send(GROUP, "u2", "좋아! 그럼 일곱 시에 보자")
    m.send(GROUP, "u2", "내일은 회의가 있어서 안돼")
    found = m.find("u2", "삼겹살")
    assert [(h.room_id, h.room_seq, h.sender) for h in found.hits] == [(GROUP, 1, "u1")]
    assert found.hits[0].snippet == "오늘 저녁에 삼겹살 먹으러 갈래?"
    assert highlighted(found.hits[0]) == ["삼겹살"]
    assert not found.ranked and found.next_cursor is None  # newest first
    assert m.find("u2", "삼겹살", order="relevance").ranked
    # part of a word, inside a longer word ("회의가")
    assert [h.room_seq for h in m.find("u1", "회의").hits] == [3]
    assert [h.room_seq for h in m.find("u1", "먹으러 갈래").hits] == [1]
    assert m.find("u1", "삼겹살 회의").hits == []  # every word must be there


def test_japanese_and_chinese_words_inside_sentences() -> None:
    m = Model()
    m.group(GROUP, "u1", "u2")
    m.send(GROUP, "u1", "週末に東京タワーに行きたいです")
    m.send(GROUP, "u2", "我们明天去北京吧")
    assert [h.room_seq for h in m.find("u2", "タワー").hits] == [1]
    assert highlighted(m.find("u2", "東京タワー").hits[0]) == ["東京タワー"]
    assert [h.room_seq for h in m.find("u1", "去北京").hits] == [2]
    # two characters: below a trigram, answered from the newest messages, unranked
    short = m.find("u1", "北京")
    assert [h.room_seq for h in short.hits] == [2] and not short.ranked
    assert highlighted(short.hits[0]) == ["北京"]


def test_only_the_callers_rooms_while_a_member() -> None:
    m = Model()
    m.group(GROUP, "u1", "u2")
    m.group(OTHER, "u3")
    m.send(GROUP, "u1", "secret plans for saturday")
    m.send(OTHER, "u3", "other secret plans")
    assert [h.room_id for h in m.find("u2", "secret").hits] == [GROUP]
    assert [h.room_id for h in m.find("u3", "secret").hits] == [OTHER]
    with pytest.raises(FirebreakError) as refused:
        m.find("u2", "secret", room_id=OTHER)
    assert (refused.value.status, refused.value.code) == (404, "unknown_room")
    m.apply(ev.MemberLeft(v=1, at=9, room_id=GROUP, user_id="u2"))
    assert m.find("u2", "secret").hits == []
    assert m.find("u2", "se").hits == []


def test_ranked_then_newest_and_paged_without_gaps() -> None:
    m = Model()
    m.group(GROUP, "u1", "u2")
    for i in range(7):
        m.send(GROUP, "u1", f"lunch {i} somewhere with a long tail of other words")
    m.send(GROUP, "u2", "lunch lunch lunch", at=4)  # sent as the 4th by time, applied last
    first = m.find("u1", "lunch", limit=3, order="relevance")
    assert first.hits[0].room_seq == 8  # the densest match first
    assert [h.room_seq for h in first.hits[1:]] == [7, 6]  # equal scores: newest first
    pages, cursor = [first], first.next_cursor
    while cursor is not None:
        page = m.find("u1", "lunch", limit=3, cursor=cursor, order="relevance")
        pages.append(page)
        cursor = page.next_cursor
    seqs = [h.room_seq for p in pages for h in p.hits]
    assert seqs == [8, 7, 6, 5, 4, 3, 2, 1]
    assert [len(p.hits) for p in pages] == [3, 3, 2]
    assert m.find("u1", "LUNCH", room_id=GROUP).hits == m.find("u1", "lunch").hits


def test_newest_first_follows_the_send_time_not_the_apply_order() -> None:
    m = Model()
    m.group(GROUP, "u1", "u2")
    m.group(OTHER, "u1", "u3")
    stamps = [5_000, 1_000, 9_000, 3_000, 7_000]
    for i, at in enumerate(stamps):
        m.send(GROUP if i % 2 else OTHER, "u1", f"lunch {i}", at=at)
    newest = [m.find("u1", "lunch", limit=2)]
    while newest[-1].next_cursor is not None:
        newest.append(m.find("u1", "lunch", limit=2, cursor=newest[-1].next_cursor))
    assert [h.at for p in newest for h in p.hits] == sorted(stamps, reverse=True)
    assert not any(p.ranked for p in newest)
    with pytest.raises(FirebreakError) as refused:
        m.find("u1", "lunch", order="oldest")
    assert (refused.value.status, refused.value.code) == (400, "invalid_order")


def test_short_words_filter_indexed_matches_and_search_alone_by_recency() -> None:
    m = Model(Limits(search_short_scan_per_room=3))
    m.group(GROUP, "u1", "u2")
    m.send(GROUP, "u1", "오늘 저녁에 삼겹살 먹으러 갈래?")
    m.send(GROUP, "u1", "삼겹살은 점심에 먹자")
    for i in range(3):
        m.send(GROUP, "u2", f"저녁 {i}")
    assert [h.room_seq for h in m.find("u1", "삼겹살 저녁").hits] == [1]
    # alone, a short word looks at the newest 3 messages of each room only, newest first
    assert [h.room_seq for h in m.find("u1", "저녁").hits] == [5, 4, 3]


def test_snippets_are_cut_around_hits_with_offsets() -> None:
    text = "x" * 100 + " needle " + "y" * 100
    snippet, spans = make_snippet(text, ["needle"], 10)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert [snippet[a:b] for a, b in spans] == ["needle"]
    assert parse_snippet("a\x02bc\x03d\x02e\x03") == ("abcde", [(1, 3), (4, 5)])


def test_markers_in_message_text_do_not_confuse_highlights() -> None:
    m = Model()
    m.group(GROUP, "u1")
    m.send(GROUP, "u1", "look\x02 at \x03this <b>bold</b> thing")
    hit = m.find("u1", "bold").hits[0]
    assert highlighted(hit) == ["bold"]
    assert "\x02" not in hit.snippet and "<b>" in hit.snippet  # plain text: no HTML made or removed


@pytest.mark.parametrize(
    ("q", "limit", "cursor", "code"),
    [
        ("", None, None, "invalid_query"),
        ("   ", None, None, "invalid_query"),
        ("x" * 201, None, None, "invalid_query"),
        ("abc\x00def", None, None, "invalid_query"),
        ("\ud800abc", None, None, "invalid_unicode"),
        ("abc", 0, None, "invalid_limit"),
        ("abc", 51, None, "invalid_limit"),
        ("abc", None, "12", "invalid_cursor"),
        ("abc", None, "s1-99999", "invalid_cursor"),
    ],
)
def test_bad_queries_are_refused(q: str, limit: int | None, cursor: str | None, code: str) -> None:
    m = Model()
    m.group(GROUP, "u1")
    with pytest.raises(FirebreakError) as refused:
        m.find("u1", q, limit=limit, cursor=cursor)
    assert (refused.value.status, refused.value.code) == (400, code)


def test_quotes_and_fts_syntax_are_plain_text() -> None:
    m = Model()
    m.group(GROUP, "u1")
    m.send(GROUP, "u1", 'she said "NEAR the tower" OR not*')
    assert [h.room_seq for h in m.find("u1", '"NEAR').hits] == [1]
    assert [h.room_seq for h in m.find("u1", "not*").hits] == [1]
    assert m.find("u1", "text:she").hits == []


def test_newest_first_is_the_same_page_whichever_way_the_index_is_read() -> None:
    """Someone in a busy room gets the page from the word's matches in the whole DC; someone whose
    rooms hold few of them gets it through the rooms' tags after a bounded scan. Both must be the
    caller's own matches, newest first, paged without gaps."""
    m = Model()
    m.group(GROUP, "u1", "u2")
    m.group(OTHER, "u2", "u3")
    for i in range(2_100):
        m.send(OTHER, "u3", f"lunch {i}")
        if i % 700 == 0:
            m.send(GROUP, "u1", f"lunch in the group {i}")
    quiet = m.find("u1", "lunch", limit=2)
    assert [h.snippet for h in quiet.hits] == ["lunch in the group 1400", "lunch in the group 700"]
    assert quiet.next_cursor is not None
    last = m.find("u1", "lunch", limit=2, cursor=quiet.next_cursor)
    assert [h.snippet for h in last.hits] == ["lunch in the group 0"] and last.next_cursor is None
    busy = m.find("u2", "lunch", limit=3, cursor="s1-1")
    assert [h.snippet for h in busy.hits] == ["lunch 2098", "lunch 2097", "lunch 2096"]


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_a_change_applied_with_its_message_in_one_transaction(change: str) -> None:
    """The search rows of a transaction's new messages are written at its end, in rowid order
    (adapters/sqlite_messages.py): an edit or deletion in the same transaction still finds its
    message's row, messages applied out of time order are all found, and the read model is the
    one that applying each event on its own makes."""
    texts = ((30, "first draft of the plan"), (20, "older words"), (10, "oldest words"))
    events: list[ev.RoomEvent] = [
        ev.MessageSent(v=1, at=at, room_id=GROUP, sender="u1", client_id=f"c{at}", text=text)
        for at, text in texts
    ]
    if change == "edit":
        events.append(
            ev.MessageEdited(v=1, at=40, room_id=GROUP, sender="u1", room_seq=1, client_id="e1", text="final")
        )
    else:
        events.append(ev.MessageDeleted(v=1, at=40, room_id=GROUP, sender="u1", room_seq=1))
    together, one_by_one = Model(), Model()
    for m in (together, one_by_one):
        m.group(GROUP, "u1", "u2")
    together.apply(*events)
    for e in events:
        one_by_one.apply(e)
    assert together.find("u2", "draft").hits == []
    assert [h.room_seq for h in together.find("u2", "final").hits] == ([1] if change == "edit" else [])
    assert [h.room_seq for h in together.find("u2", "older").hits] == [2]
    assert [h.room_seq for h in together.find("u2", "oldest").hits] == [3]
    assert together.queries.digest() == one_by_one.queries.digest()


def test_a_rolled_back_transaction_leaves_no_search_row() -> None:
    conn = sqlite_store.connect(":memory:")
    store = SqliteStore(conn)
    store.begin()
    assert store.insert_message(GROUP, 1, 0, 1, "u1", "c1", "never committed", 1)
    store.rollback()
    with store.transaction():
        pass
    assert conn.execute("SELECT count(*) FROM message_text").fetchone() == (0,)


async def test_a_serving_transaction_is_searchable_before_its_commit() -> None:
    """A serving gateway's transaction stays open across batches: a search (and the digest) before
    its COMMIT sees every message applied, also when rowids went back between batches."""
    serving, one_by_one = Model(), Model()
    sends = [
        ev.MessageSent(v=1, at=at, room_id=room, sender="u1", client_id=f"c{at}", text=f"lunch {at}")
        for at, room in ((50, GROUP), (60, OTHER), (10, GROUP), (40, OTHER), (1000, GROUP), (20, OTHER))
    ]
    for m in (serving, one_by_one):
        m.group(GROUP, "u1", "u2")
        m.group(OTHER, "u1", "u2")

    async def lunches() -> list[str]:
        found = await serving.search.search("u2", "lunch", None, None, None, "newest")
        return [h.snippet for h in found.hits]

    serving.apply_open(*sends[:2])  # the transaction stays open, as between a gateway's commits
    assert await lunches() == ["lunch 60", "lunch 50"]
    serving.apply_open(*sends[2:5])
    serving.apply_open(sends[5])  # older than every row before it
    assert await lunches() == [f"lunch {at}" for at in (1000, 60, 50, 40, 20, 10)]
    for e in sends:
        one_by_one.apply(e)
    assert serving.queries.digest() == one_by_one.queries.digest()
    serving.projector.commit()
    assert serving.queries.digest() == one_by_one.queries.digest()
