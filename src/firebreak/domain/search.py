"""Search rules shared by the read model and the search use case: what is indexed, how a query
becomes an FTS5 expression, and snippets with highlights. Pure functions, no I/O.

The index is SQLite FTS5 with the trigram tokenizer (adapters/sqlite_store.py): every run of 3
characters is a token, so a word inside a sentence without spaces (Korean, Japanese, Chinese) is
found like any other substring. A term shorter than 3 characters has no trigram and so matches
nothing in the index: such terms are checked as substrings of the candidates instead
(service/search.py and docs/API.md say what a query of only short terms does).
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata

#: Marks a hit's start and end in the snippets SQLite makes. The indexed text never holds them
#: (:func:`index_text`), so they can be parsed back into offsets unambiguously.
HIT_START, HIT_END = "\x02", "\x03"
#: Marks a cut at either end of a snippet.
ELLIPSIS = "…"
#: Shortest term the trigram index can answer.
MIN_TRIGRAM = 3


def search_rowid(at: int, partition: int, seq: int) -> int:
    """The message's row in the search index, from the event alone (the same in every DC), in time
    order, so the index can answer "newest first" by walking rowids backwards and stop after a
    page: the send time in 4 ms steps (41 bits reach the year 2248), then the partition (at most
    64: config.py), then the sequence's low 16 bits (unique unless one partition takes 65,536
    messages within 4 ms)."""
    return ((max(at, 0) >> 2) << 22) | (partition << 16) | (seq & 0xFFFF)


#: Room tags are 3 characters of Unicode's supplementary private use area A: exactly one trigram,
#: in a column that holds nothing else.
_TAG_BASE, _TAG_SPAN = 0xF0000, 0xFFFE


#: Rooms whose tags are kept: every message applied computes its room's (a sha256), and a busy
#: DC's messages come from far fewer rooms than this at a time.
ROOM_TAGS_KEPT = 16_384


@functools.lru_cache(maxsize=ROOM_TAGS_KEPT)
def room_tag(room_id: str) -> str:
    """The room's token in the index's ``tag`` column: one trigram, derived from the room id, so a
    query can name the caller's rooms and the index intersects their rows with the words' rows
    (instead of ranking every match in the DC and dropping other rooms' after). Two rooms may
    share a tag (about 2^47 tags); the query also joins on membership, so that costs speed only."""
    digest = int.from_bytes(hashlib.sha256(room_id.encode()).digest()[:8], "big")
    out = []
    for _ in range(3):
        digest, rest = divmod(digest, _TAG_SPAN)
        out.append(chr(_TAG_BASE + rest))
    return "".join(out)


def normalize(text: str) -> str:
    """NFC, so text typed as decomposed Hangul jamo (as some systems do) finds composed syllables
    and back."""
    return unicodedata.normalize("NFC", text)


def index_text(text: str) -> str:
    """What the index holds for a message: its text in NFC, without the hit markers."""
    return normalize(text).replace(HIT_START, " ").replace(HIT_END, " ")


def terms(query: str) -> list[str]:
    """A query's terms: its whitespace-separated words, in NFC, without duplicates and without the
    hit markers."""
    return list(dict.fromkeys(index_text(query).split()))


def words_expression(long_terms: list[str]) -> str:
    """An FTS5 query that matches rows whose text holds every term, each taken literally (quoted,
    so no term is read as FTS5 syntax: AND, NEAR, column filters, stars)."""
    words = " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
    return f"text : ({words})"


def fts_expression(long_terms: list[str], room_ids: list[str]) -> str:
    """:func:`words_expression`, narrowed to rows of one of ``room_ids`` (by their tags)."""
    rooms = " OR ".join(f'"{room_tag(r)}"' for r in room_ids)
    return f"{words_expression(long_terms)} AND tag : ({rooms})"


def like_pattern(term: str) -> str:
    """A LIKE pattern (ESCAPE '\\') for rows holding ``term`` anywhere."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def parse_snippet(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """A snippet with hit markers -> (plain snippet, [(start, end)] character offsets of the hits)."""
    plain: list[str] = []
    hits: list[tuple[int, int]] = []
    start = -1
    length = 0
    for ch in marked:
        if ch == HIT_START:
            start = length
        elif ch == HIT_END:
            if start >= 0 and length > start:
                hits.append((start, length))
            start = -1
        else:
            plain.append(ch)
            length += 1
    return "".join(plain), hits


def make_snippet(text: str, needles: list[str], context: int) -> tuple[str, list[tuple[int, int]]]:
    """A snippet of ``text`` around the first occurrence of any needle (case-insensitively), at
    most ``context`` characters either side, with every occurrence inside it highlighted."""
    folded = text.casefold()
    # casefold can change a string's length (ß -> ss); then offsets would not line up: fall back
    # to exact matching.
    haystack = folded if len(folded) == len(text) else text
    keys = [n.casefold() if haystack is folded else n for n in needles if n]
    firsts = [i for i in (haystack.find(k) for k in keys) if i >= 0]
    first = min(firsts) if firsts else 0
    lo = max(0, first - context)
    hi = min(len(text), first + context)
    hits: list[tuple[int, int]] = []
    for key in keys:
        i = haystack.find(key, lo)
        while i >= 0 and i + len(key) <= hi:
            hits.append((i, i + len(key)))
            i = haystack.find(key, i + len(key))
    prefix = ELLIPSIS if lo > 0 else ""
    suffix = ELLIPSIS if hi < len(text) else ""
    shift = len(prefix) - lo
    merged = _merge(sorted((a + shift, b + shift) for a, b in hits))
    return prefix + text[lo:hi] + suffix, merged


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
