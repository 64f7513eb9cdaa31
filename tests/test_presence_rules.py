"""The pure rules of presence and typing (domain/presence.py, domain/presence_board.py): who is
online as the processes' numbered notes, pulses and lists say; a source that stops pulsing
takes its users offline, and brings them back if it speaks again in the same run; a missed note
is noticed and asked for, less often while unanswered; a restarted process's old users go;
last seen; the typing allowance."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from firebreak.config_file import load_config
from firebreak.domain.presence import LIST, OFF, ON, PULSE, Change, PresenceNote, TypingAllowance
from firebreak.domain.presence_board import (
    DORMANT_EXPIRIES,
    LAST_SEEN_KEEP_MS,
    LAST_SEEN_PRUNE_EVERY_MS,
    Board,
)
from firebreak.errors import ConfigError

EXPIRY = 5000
ASK_EVERY = 2000
ASK_EVERY_MAX = 30_000


def board() -> Board:
    return Board(EXPIRY, ASK_EVERY, ASK_EVERY_MAX)


def on(source: str, seq: int, *users: str, run: int = 7) -> PresenceNote:
    return PresenceNote(source, ON, users, run, seq)


def off(source: str, seq: int, *users: str, run: int = 7) -> PresenceNote:
    return PresenceNote(source, OFF, users, run, seq)


def pulse(source: str, seq: int, run: int = 7) -> PresenceNote:
    return PresenceNote(source, PULSE, (), run, seq)


def listing(source: str, seq: int, *users: str, run: int = 7, part: int = 0, parts: int = 1) -> PresenceNote:
    return PresenceNote(source, LIST, users, run, seq, part, parts)


def in_step(b: Board, source: str, now: int) -> bool:
    """Whether ``b`` has every note of ``source``: it asks for nothing (asking is its only sign;
    this counts as an ask when it does)."""
    return source not in b.due_asks(now)


def test_a_first_socket_makes_a_user_online_and_the_last_one_offline() -> None:
    b = board()
    assert b.hear(on("dc1", 1, "alice"), 1000) == [Change("alice", True)]
    assert b.online("alice", 1000)
    assert b.last_seen("alice", 1000) is None
    assert b.hear(off("dc1", 2, "alice"), 2500) == [Change("alice", False, 2500)]
    assert not b.online("alice", 2600)
    assert b.last_seen("alice", 2600) == 2500


def test_online_while_any_source_lists_the_user() -> None:
    b = board()
    b.hear(on("dc1", 1, "alice"), 1000)
    assert b.hear(on("dc3", 1, "alice"), 1100) == [], "already online: no change to tell"
    assert b.hear(off("dc1", 2, "alice"), 1200) == [], "her device at dc3 is still live"
    assert b.online("alice", 1300)
    assert b.hear(off("dc3", 2, "alice"), 1400) == [Change("alice", False, 1400)]


def test_a_source_that_stops_pulsing_takes_its_users_offline_after_the_expiry() -> None:
    b = board()
    b.hear(listing("dc1", 0, "alice", "bob"), 1000)
    b.hear(listing("dc2", 0, "carol"), 1000)
    b.hear(pulse("dc2", 0), 4000)
    assert b.expire(5900) == [], "within the expiry nothing changes"
    assert b.online("alice", 5900)
    changes = b.expire(6001)
    assert sorted(changes, key=lambda c: c.user_id) == [
        Change("alice", False, 1000),
        Change("bob", False, 1000),
    ], "last seen: when their source was last heard from"
    assert b.online("carol", 6001)
    assert b.expire(6100) == [], "each change is told once"
    assert b.hear(listing("dc1", 0, "alice"), 7000) == [Change("alice", True)], "the DC is back"


def test_pulses_keep_a_source_s_users_online_past_the_expiry_without_naming_them() -> None:
    b = board()
    b.hear(listing("dc1", 0, "alice"), 0)
    for at in range(2000, 20_000, 2000):
        b.hear(pulse("dc1", 0), at)
        assert b.expire(at + 1) == []
    assert b.online("alice", 20_000)
    assert in_step(b, "dc1", 20_000)


def test_a_late_note_brings_back_users_shown_offline_before_the_expiry_check() -> None:
    """dc1's notes run late (a healed cut, a stalled loop): its source is stale but not yet
    expired when dc2's ``off`` shows alice offline; dc1's next pulse must show her online again."""
    b = board()
    b.hear(listing("dc1", 0, "alice"), 0)
    b.hear(on("dc2", 1, "alice"), 1000)
    assert b.hear(off("dc2", 2, "alice"), 5200) == [Change("alice", False, 5200)]
    assert b.hear(pulse("dc1", 0), 5300) == [Change("alice", True)]
    assert b.expire(5400) == [], "told once"


def test_last_seen_is_forgotten_after_a_week() -> None:
    """The board's memory follows the users of the last week, not every user ever seen."""
    b = board()
    b.hear(on("dc1", 1, "alice"), 0)
    b.hear(off("dc1", 2, "alice"), 1000)
    b.expire(LAST_SEEN_KEEP_MS)
    assert b.last_seen("alice", LAST_SEEN_KEEP_MS) == 1000, "within the week"
    later = 1000 + LAST_SEEN_KEEP_MS + LAST_SEEN_PRUNE_EVERY_MS
    b.expire(later)
    assert b.last_seen("alice", later) is None


def test_an_off_note_for_a_user_never_seen_changes_nothing() -> None:
    b = board()
    assert b.hear(off("dc1", 1, "ghost"), 1000) == []
    assert b.last_seen("ghost", 1000) is None and not b.online("ghost", 1000)


def test_a_missed_note_is_noticed_asked_for_and_mended_by_the_list() -> None:
    b = board()
    b.hear(listing("dc1", 0, "alice", "bob"), 0)
    assert in_step(b, "dc1", 0)
    # Note 1 (bob's off) is lost; note 2 is heard and applied anyway.
    assert b.hear(on("dc1", 2, "carol"), 100) == [Change("carol", True)]
    assert b.online("bob", 100), "the board cannot know what it missed"
    assert b.due_asks(200) == ["dc1"], "a skipped number: ask for a list"
    assert b.due_asks(300) == [], "asked already: not again at once"
    asked = [200]
    for at in range(300, 70_000, 100):  # no list comes; the source pulses on
        b.hear(pulse("dc1", 2), at)
        if b.due_asks(at):
            asked.append(at)
    gaps = [later - earlier for earlier, later in itertools.pairwise(asked)]
    assert gaps[:4] == [2 * ASK_EVERY, 4 * ASK_EVERY, 8 * ASK_EVERY, ASK_EVERY_MAX], (
        "the ask or the list may be lost: asked again, less and less often"
    )
    assert b.hear(listing("dc1", 2, "alice", "carol"), 70_000) == [Change("bob", False, 70_000)]
    assert b.due_asks(70_000) == [] and b.due_asks(70_100) == [], "in step again"


def test_a_pulse_with_another_number_says_a_note_was_missed() -> None:
    b = board()
    b.hear(listing("dc1", 0, "alice"), 0)
    b.hear(pulse("dc1", 3), 2000)
    assert b.due_asks(2000) == ["dc1"]


def test_a_source_heard_from_its_first_note_on_is_in_step() -> None:
    """A run starts with no users: whoever hears its first note has missed nothing."""
    b = board()
    b.hear(pulse("dc2", 0), 0)
    b.hear(on("dc3", 1, "alice"), 0)
    assert b.due_asks(0) == []
    assert b.online("alice", 0)


def test_a_source_first_heard_of_is_asked_for_its_list() -> None:
    """A process that just started hears pulses of users it was never told of."""
    b = board()
    assert b.hear(pulse("dc2", 40), 0) == []
    assert b.due_asks(0) == ["dc2"]
    changes = b.hear(listing("dc2", 40, "alice", "bob"), 100)
    assert sorted(changes, key=lambda c: c.user_id) == [Change("alice", True), Change("bob", True)]
    assert b.online("alice", 100) and b.online("bob", 100)
    assert in_step(b, "dc2", 100)


def test_a_restarted_source_s_old_users_go_at_once_and_late_notes_of_the_old_run_are_ignored() -> None:
    """The old process's sockets died with it; its shutdown's last notes may arrive late, on
    another connection than the new process's."""
    b = board()
    b.hear(listing("dc1", 5, "alice", "bob", run=1), 0)
    assert b.hear(on("dc1", 1, "alice", run=2), 1000) == [Change("bob", False, 1000)], (
        "alice reconnected to the new process: still online; bob is gone"
    )
    assert b.due_asks(1000) == [], "the new run's first note: nothing missed"
    assert b.hear(off("dc1", 6, "alice", run=1), 1100) == [], "the old run's late off"
    assert b.hear(on("dc1", 7, "bob", run=1), 1200) == []
    assert b.online("alice", 1300) and not b.online("bob", 1300)
    assert b.due_asks(1300) == []


def test_a_lower_run_is_taken_only_once_the_source_is_silent() -> None:
    """Runs grow with their process's start time; a lower one heard while the higher one speaks
    is a late note of the process it replaced, but after a silence it is a restart on a host
    whose clock is behind."""
    b = board()
    b.hear(on("dc1", 1, "alice", run=20), 0)
    assert b.hear(on("dc1", 9, "bob", run=10), 100) == []
    assert b.online("alice", 100) and not b.online("bob", 100)
    b.expire(6000)
    assert b.hear(on("dc1", 1, "bob", run=10), 6100) == [Change("bob", True)]
    assert not b.online("alice", 6100)


def test_a_pulse_overtaken_by_a_list_does_not_put_the_source_out_of_step() -> None:
    b = board()
    b.hear(listing("dc1", 0, "alice"), 0)
    b.hear(pulse("dc1", 5), 100)  # notes 1-5 missed
    assert b.due_asks(100) == ["dc1"]
    b.hear(listing("dc1", 6, "bob"), 200)  # the answer, by the asker's own subject
    b.hear(pulse("dc1", 5), 210)  # a pulse sent before the list, read after it
    assert b.due_asks(300) == [], "still in step"


def test_two_lists_in_parts_that_cross_both_count() -> None:
    b = board()
    b.hear(pulse("dc1", 4), 0)
    b.hear(listing("dc1", 4, "alice", part=0, parts=2), 100)
    b.hear(listing("dc1", 4, "alice", part=0, parts=2), 110)
    b.hear(on("dc1", 5, "carol"), 115)
    b.hear(listing("dc1", 5, "alice", part=0, parts=2), 120)
    b.hear(listing("dc1", 4, "bob", part=1, parts=2), 130)
    assert b.online("bob", 130) and b.due_asks(130) == []
    b.hear(listing("dc1", 5, "bob", "carol", part=1, parts=2), 140)
    assert all(b.online(u, 140) for u in ("alice", "bob", "carol"))


def test_a_silent_source_that_speaks_again_in_the_same_run_brings_its_users_back() -> None:
    """Its process or this one stalled past the expiry, or a cut healed: the users it had are
    still its users, without a list."""
    b = board()
    b.hear(listing("dc1", 2, "alice", "bob"), 0)
    assert len(b.expire(6000)) == 2
    changes = b.hear(pulse("dc1", 2), 6100)
    assert sorted(changes, key=lambda c: c.user_id) == [Change("alice", True), Change("bob", True)]
    assert b.due_asks(6100) == [], "same run, same number: in step"


def test_a_silent_source_is_forgotten_after_a_while() -> None:
    b = board()
    b.hear(listing("dc1", 2, "alice"), 0)
    b.expire(6000)
    b.expire(DORMANT_EXPIRIES * EXPIRY + 1)
    assert b.hear(pulse("dc1", 2), DORMANT_EXPIRIES * EXPIRY + 2) == [], "known no more: no users"
    assert b.due_asks(DORMANT_EXPIRIES * EXPIRY + 2) == ["dc1"]


def test_a_list_that_arrives_after_later_notes_is_brought_up_to_date_with_them() -> None:
    """A list asked for comes on the asker's own subject, which NATS's client reads in another
    task than the source's other notes: notes made after it may be applied first."""
    b = board()
    b.hear(pulse("dc1", 3), 0)  # first heard mid-run: asks
    b.hear(on("dc1", 4, "carol"), 100)
    b.hear(off("dc1", 5, "bob"), 200)
    changes = b.hear(listing("dc1", 3, "alice", "bob"), 300)
    assert changes == [Change("alice", True)], "bob's off came after the list; carol's on too"
    assert b.online("carol", 300) and not b.online("bob", 300)
    assert b.due_asks(300) == [], "in step"


def test_a_list_older_than_notes_it_cannot_be_brought_up_to_date_with_is_dropped() -> None:
    b = board()
    b.hear(listing("dc1", 0, "alice"), 0)
    b.hear(on("dc1", 2, "bob"), 100)  # number 1 lost
    assert b.hear(listing("dc1", 0, "alice", "carol"), 200) == [], "number 1 is not at hand"
    assert not b.online("carol", 200)
    assert b.due_asks(200) == ["dc1"]


def test_a_note_already_counted_in_a_list_changes_nothing() -> None:
    b = board()
    b.hear(listing("dc1", 3, "alice"), 0)
    assert b.hear(off("dc1", 3, "alice"), 100) == [], "number 3 is in the list already"
    assert b.online("alice", 100)


def test_a_list_in_parts_counts_once_all_parts_are_heard() -> None:
    b = board()
    b.hear(listing("dc1", 0, "alice", "bob"), 0)
    assert b.hear(listing("dc1", 4, "alice", part=0, parts=2), 100) == []
    assert b.online("bob", 100), "half a list says nothing of who left"
    assert b.hear(listing("dc1", 4, "carol", part=1, parts=2), 110) == [
        Change("bob", False, 110),
        Change("carol", True),
    ]


def test_the_typing_allowance_takes_a_burst_then_a_steady_rate() -> None:
    allowance = TypingAllowance(rate_per_s=2.0, burst=3)
    assert [allowance.take("alice", 0) for _ in range(3)] == [0, 0, 0]
    assert allowance.take("alice", 0) == 1, "the fourth at once waits (Retry-After: 1 s)"
    assert allowance.take("bob", 0) == 0, "each user has an own allowance"
    assert allowance.take("alice", 500) == 0, "half a second later one more"
    assert allowance.take("alice", 500) == 1
    for at in range(1000, 10_000, 500):
        assert allowance.take("alice", at) == 0, "two a second go on for ever"


def test_a_long_refused_typist_waits_at_least_a_second() -> None:
    allowance = TypingAllowance(rate_per_s=0.25, burst=1)
    assert allowance.take("alice", 0) == 0
    assert allowance.take("alice", 100) == 4, "the next token is 3.9 s away: rounded up"


@pytest.mark.parametrize(
    "lines",
    [
        "typing_rate_per_s = 0",
        "typing_burst = 0",
        "typing_ttl_s = -1",
        "presence_beat_s = 0",
        "presence_expiry_s = 3.9",  # under twice the default beat (2 s)
    ],
)
def test_the_config_refuses_presence_limits_that_cannot_work(tmp_path: Path, lines: str) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(f"[limits]\n{lines}\n")
    with pytest.raises(ConfigError, match=lines.split()[0]):
        load_config(path)
