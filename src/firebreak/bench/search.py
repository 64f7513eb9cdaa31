"""Search latency over a read model of N messages (``firebreak bench --search N``).

Builds a synthetic log: 1,000 group rooms of 20, one more member (``heavy``) in the first 100 of
them, then N messages round-robin, each a sentence of 4-12 made-up Korean words (2-4 syllables)
drawn from a vocabulary of 20,000 with Zipf weights, so some words are very common and most are
rare. Applies it with the real projector (batches of 10,000), then times the search use case's
query (adapters/sqlite_search.py, a page of 20) for one-word queries: by a member of one room
(1/1000 of the messages) and by ``heavy`` (1/10 of them), for words drawn by frequency, for the
20 most common ones and for rare ones, in both orders (newest first, and best first by bm25).
What it leaves out: HTTP, and the snippet (microseconds).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import msgspec

from firebreak.adapters import sqlite_store
from firebreak.adapters.replica_reader import Entry
from firebreak.adapters.sqlite_search import SearchQueries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.bench.latency import Latency, latency
from firebreak.bench.texts import korean_words, zipf_weights
from firebreak.domain import events as ev
from firebreak.domain.ids import room_stream
from firebreak.service.projector import CATCH_UP_BATCH, Projector
from firebreak.service.search import ORDERS, RELEVANCE

ROOMS, ROOM_SIZE, HEAVY_ROOMS, VOCABULARY = 1000, 20, 100, 20_000


class SearchCase(msgspec.Struct, frozen=True):
    #: "1 room" (a member of one room) or "100 rooms" (``heavy``)
    who: str
    #: "by frequency", "most common" (the 20 most common words) or "rare"
    words: str
    #: the search's ``order``: newest or relevance
    order: str
    latency: Latency


class SearchBenchResult(msgspec.Struct, frozen=True):
    messages: int
    apply_events_per_s: float
    db_mb: float
    cases: list[SearchCase]


def _log(messages: int, rng: random.Random, vocab: list[str], weights: list[float]) -> list[Entry]:
    stream = room_stream(0)
    events: list[ev.RoomEvent] = []
    for r in range(ROOMS):
        members = tuple(f"u{r}_{k}" for k in range(1, ROOM_SIZE)) + (("heavy",) if r < HEAVY_ROOMS else ())
        events.append(
            ev.RoomCreated(
                v=1, at=0, room_id=f"g_{r}", kind="group", name="n", creator=f"u{r}_0", members=members
            )
        )
    for m in range(messages):
        r = m % ROOMS
        text = " ".join(rng.choices(vocab, weights, k=rng.randint(4, 12)))
        events.append(
            ev.MessageSent(
                v=1, at=m, room_id=f"g_{r}", sender=f"u{r}_{m % ROOM_SIZE}", client_id=f"c{m}", text=text
            )
        )
    return [(stream, seq, ev.encode(e)) for seq, e in enumerate(events, start=1)]


def run_search_bench(*, messages: int, queries: int = 300, seed: int = 1) -> SearchBenchResult:
    rng = random.Random(seed)
    vocab = korean_words(rng, VOCABULARY)
    weights = zipf_weights(VOCABULARY)
    entries = _log(messages, rng, vocab, weights)
    searchable = [(w, wt) for w, wt in zip(vocab, weights, strict=True) if len(w) >= 3]
    words, word_weights = [w for w, _ in searchable], [wt for _, wt in searchable]
    with tempfile.TemporaryDirectory(prefix="firebreak-search-") as tmp:
        path = Path(tmp) / "read-model.sqlite3"
        conn = sqlite_store.connect(path)
        projector = Projector(SqliteStore(conn), 1, lambda applied: None)
        started = time.perf_counter()
        for first in range(0, len(entries), CATCH_UP_BATCH):
            projector.apply_batch(entries[first : first + CATCH_UP_BATCH])
        took = time.perf_counter() - started
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size / 1e6
        q = SearchQueries(conn)

        def timed(user: str | None, chosen: list[str], order: str) -> Latency:
            waits = []
            for word in chosen:
                who = user or f"u{rng.randrange(ROOMS)}_1"
                t = time.perf_counter()
                q.indexed([word], [], q.rooms_of(who), 0, 21, relevance=order == RELEVANCE)
                waits.append(time.perf_counter() - t)
            return latency(waits)

        sets = {
            "by frequency": rng.choices(words, word_weights, k=queries),
            "most common": (words[:20] * (queries // 20 + 1))[:queries],
            "rare": rng.choices(words[len(words) // 4 :], k=queries),
        }
        result = SearchBenchResult(
            messages=messages,
            apply_events_per_s=round(len(entries) / took, 1),
            db_mb=round(size, 1),
            cases=[
                SearchCase(who, name, order, timed(user, chosen, order))
                for order in ORDERS
                for who, user in (("1 room", None), ("100 rooms", "heavy"))
                for name, chosen in sets.items()
            ],
        )
        conn.close()
    return result
