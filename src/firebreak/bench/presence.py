"""What presence costs one gateway process to follow, in-process (``firebreak bench --presence``).

The receiving side of every process's notes (domain/presence_board.py, as service/presence.py
drives it): decoding, applying, expiring and asking, for ``sources`` processes with
``users_per_source`` live users each, over ``beats`` beats. Every process hears every other's
notes, so this cost is paid by each process and grows with the whole cluster's users, not with
its own. No sockets and no network: what it measures is the CPU of the rules and the decoding.
"""

from __future__ import annotations

import time

import msgspec

from firebreak.domain.presence import LIST, PULSE, PresenceAsk, PresenceNote, TypingNote
from firebreak.domain.presence_board import Board
from firebreak.limits import Limits
from firebreak.service.presence import TICKS_PER_BEAT
from firebreak.service.presence_speaker import LIST_EVERY_BEATS, NOTE_USERS_MAX

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TypingNote | PresenceNote | PresenceAsk)


class PresenceResult(msgspec.Struct, frozen=True):
    sources: int
    users: int
    beats: int
    beat_s: float
    #: Notes each process decoded per second, and the CPU they cost it (ms per second).
    notes_per_s: float
    cpu_ms_per_s: float
    online_at_end: int


def _lists(sources: int, users_per_source: int) -> list[list[bytes]]:
    """Each source's list, as the bytes on the wire (its parts)."""
    wire = []
    for s in range(sources):
        users = tuple(f"u_{s:02d}_{u:06d}" for u in range(users_per_source))
        parts = max(1, -(-len(users) // NOTE_USERS_MAX))
        chunks = [users[p * NOTE_USERS_MAX : (p + 1) * NOTE_USERS_MAX] for p in range(parts)]
        wire.append(
            [_encoder.encode(PresenceNote(f"dc{s}", LIST, c, 1, 0, p, parts)) for p, c in enumerate(chunks)]
        )
    return wire


def run_presence_bench(*, sources: int, users_per_source: int, beats: int) -> PresenceResult:
    limits = Limits()
    beat_ms = round(limits.presence_beat_s * 1000)
    board = Board(round(limits.presence_expiry_s * 1000), beat_ms, LIST_EVERY_BEATS * beat_ms)
    lists = _lists(sources, users_per_source)
    pulses = [_encoder.encode(PresenceNote(f"dc{s}", PULSE, (), 1, 0)) for s in range(sources)]
    notes = 0
    cpu = 0.0
    now = 0
    for beat in range(beats):
        # As a process hears it: every source's list every LIST_EVERY_BEATS beats, else a pulse.
        wire = [part for parts in lists for part in parts] if beat % LIST_EVERY_BEATS == 0 else pulses
        started = time.process_time()
        for data in wire:
            note = _decoder.decode(data)
            if isinstance(note, PresenceNote):
                board.hear(note, now)
        for tick in range(TICKS_PER_BEAT):
            at = now + tick * beat_ms // TICKS_PER_BEAT
            board.due_asks(at)
            board.expire(at)
        cpu += time.process_time() - started
        notes += len(wire)
        now += beat_ms
    online = sum(
        board.online(f"u_{s:02d}_{u:06d}", now) for s in range(sources) for u in range(users_per_source)
    )
    seconds = beats * limits.presence_beat_s
    return PresenceResult(
        sources,
        sources * users_per_source,
        beats,
        limits.presence_beat_s,
        round(notes / seconds, 1),
        round(cpu * 1000 / seconds, 3),
        online,
    )
