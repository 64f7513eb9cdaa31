"""Message texts for the benches.

``repeat`` is one letter repeated: every DC's search index then sees one trigram per message,
the cheapest text there is to index (the figures in docs/PERFORMANCE.md were measured with it
unless they say otherwise). ``words`` is what a chat in Korean and English holds: made-up Hangul
words (2-4 syllables) and Latin ones (2-9 letters), drawn with Zipf weights, so some are very
common and most are rare; a 100 B message holds ~60 characters and about as many distinct
trigrams, which is what indexing real text costs.
"""

from __future__ import annotations

import itertools
import random
from typing import Literal

TextKind = Literal["repeat", "words"]
TEXT_KINDS: tuple[TextKind, ...] = ("repeat", "words")

#: Distinct texts a ``words`` bench cycles through: a run of up to this many messages indexes
#: no text twice, and new trigrams keep coming as in a chat (a pool of 1,024 held ~21,000
#: distinct ones, 16,384 ~116,000); making them takes ~1 s, before the timed part of a run.
#: Fewer of longer texts: at most ``POOL_BYTES`` in all.
POOL = 65_536
POOL_BYTES = 8 * 1024 * 1024
_VOCABULARY = 20_000
#: Every 7th Hangul syllable block: 1,596 syllables.
_SYLLABLES = [chr(0xAC00 + i) for i in range(0, 11172, 7)]


def korean_words(rng: random.Random, count: int) -> list[str]:
    """``count`` made-up Korean words of 2-4 syllables (3 most often)."""
    return ["".join(rng.choice(_SYLLABLES) for _ in range(rng.choice([2, 3, 3, 4]))) for _ in range(count)]


def zipf_weights(count: int) -> list[float]:
    """Weight 1/rank: the rank-1 word is drawn twice as often as the rank-2 one."""
    return [1 / (i + 1) for i in range(count)]


def texts(kind: TextKind, size: int, *, seed: int = 1) -> list[str]:
    """Texts of at most ``size`` bytes in UTF-8 and at least ``size - 2`` (a character is never
    cut), never blank, the same for the same arguments."""
    if size < 1:
        raise ValueError(f"a message holds at least 1 byte, not {size}")
    if kind == "repeat":
        return ["x" * size]
    rng = random.Random(seed)
    latin = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(_VOCABULARY)
    ]
    vocab = [w for pair in zip(korean_words(rng, _VOCABULARY), latin, strict=True) for w in pair]
    cum_weights = list(itertools.accumulate(zipf_weights(len(vocab))))
    return [_fill(rng, vocab, cum_weights, size) for _ in range(max(1, min(POOL, POOL_BYTES // size)))]


def _fill(rng: random.Random, vocab: list[str], cum_weights: list[float], size: int) -> str:
    words: list[str] = []
    length = -1
    while length < size:
        word = rng.choices(vocab, cum_weights=cum_weights)[0]
        words.append(word)
        length += 1 + len(word.encode())
    out = " ".join(words).encode()[:size].decode(errors="ignore")
    # Below 3 bytes a Hangul syllable cannot fit: a message must show something.
    return out if out.strip() else "x" * size
