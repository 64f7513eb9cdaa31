"""What the benches' messages say (bench/texts.py): ``repeat`` is one letter, ``words`` is text
with as many distinct trigrams as a chat's, within the size asked, and the senders send them in
turn."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import cast

import pytest

from firebreak.adapters import sqlite_store
from firebreak.bench.readmodel import synthetic_log
from firebreak.bench.texts import texts
from firebreak.bench.wire import WireWebSocket
from firebreak.bench.ws_send import AckWaiter, send_pipelined
from firebreak.domain import events as ev


def trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


def test_repeat_is_one_letter_of_the_size() -> None:
    assert texts("repeat", 100) == ["x" * 100]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100, 4000])
def test_words_fit_the_size_and_show_something(size: int) -> None:
    pool = texts("words", size)
    assert pool == texts("words", size), "the same for the same arguments"
    for text in pool[:2000]:
        assert size - 2 <= len(text.encode()) <= size and text.strip()
    with pytest.raises(ValueError):
        texts("words", 0)


def test_words_hold_as_many_trigrams_as_real_text() -> None:
    pool = texts("words", 100)
    per_text = sorted(len(trigrams(t)) for t in pool)
    assert per_text[len(per_text) // 2] >= 40, "one distinct trigram per character or so"
    assert len(set(pool)) == len(pool)
    assert len({w for t in pool for w in t.split()}) > 1000, "a vocabulary, not a few words"
    assert any(ord(c) >= 0xAC00 for c in pool[0]) and any("a" <= c <= "z" for c in pool[0])


def test_the_read_model_bench_log_says_the_texts_in_turn() -> None:
    bodies = texts("words", 100)[:3]
    sent = [
        e.text
        for _, data in synthetic_log(2, 2, 7, bodies)
        if isinstance(e := ev.decode_room_event(data), ev.MessageSent)
    ]
    assert sent == [bodies[m % 3] for m in range(7)]


class FakeSocket:
    """Keeps the texts of the send commands written to it."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent: list[tuple[str, str]] = []

    def send_texts(self, *frames: str) -> None:
        for frame in frames:
            command = json.loads(frame)
            self.sent.append((command["client_id"], command["text"]))


async def test_a_pipelined_sender_sends_what_it_is_given() -> None:
    sock = FakeSocket()
    waiter = AckWaiter()
    ids = iter(f"m{k}" for k in range(5))
    heard: list[tuple[str, int]] = []

    def next_send() -> tuple[str, str] | None:
        cid = next(ids, None)
        if cid is None:
            return None
        asyncio.get_running_loop().call_soon(waiter.heard, cid, 200)
        return cid, f"text {cid[1:]}"

    await send_pipelined(
        waiter,
        cast(WireWebSocket, sock),
        "r1",
        2,
        next_send,
        lambda cid, status: heard.append((cid, status)),
        time.perf_counter() + 30,
    )
    assert sock.sent == [(f"m{k}", f"text {k}") for k in range(5)]
    assert sorted(heard) == [(f"m{k}", 200) for k in range(5)]


def test_a_read_model_keeps_more_new_terms_in_memory_once_opened(tmp_path: Path) -> None:
    """``hashsize`` is an FTS5 setting that SQLite's documentation does not list: every open of a
    read model, an older one too, sets it, and SQLite refuses a key it does not know, so the
    stored one is a key it reads."""
    path = tmp_path / "rm.sqlite3"
    for _ in range(2):
        conn = sqlite_store.connect(path)
        try:
            row = conn.execute("SELECT v FROM message_text_config WHERE k='hashsize'").fetchone()
            assert row == (sqlite_store.FTS_HASH_BYTES,)
            with pytest.raises(sqlite3.Error):
                conn.execute("INSERT INTO message_text(message_text, rank) VALUES('no-such-setting', 1)")
            # as a read model made before the setting was: SQLite's default
            conn.execute("INSERT INTO message_text(message_text, rank) VALUES('hashsize', 1048576)")
        finally:
            conn.close()
