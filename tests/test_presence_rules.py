"""The pure rules of presence and typing (domain/presence.py): who is online as the DCs' beats and
notes say, expiry when a DC stops beating, last seen, and the typing allowance."""

from __future__ import annotations

from pathlib import Path

import pytest

from firebreak.config_file import load_config
from firebreak.domain.presence import BEAT, OFF, ON, Board, Change, PresenceNote, TypingAllowance
from firebreak.errors import ConfigError

EXPIRY = 5000


def note(dc: str, kind: str, *users: str) -> PresenceNote:
    return PresenceNote(dc, kind, users)


def test_a_first_socket_makes_a_user_online_and_the_last_one_offline() -> None:
    board = Board(EXPIRY)
    assert board.hear(note("dc1", ON, "alice"), 1000) == [Change("alice", True)]
    assert board.online("alice", 1000)
    assert board.last_seen("alice", 1000) is None
    assert board.hear(note("dc1", OFF, "alice"), 2500) == [Change("alice", False, 2500)]
    assert not board.online("alice", 2600)
    assert board.last_seen("alice", 2600) == 2500


def test_online_while_any_dc_lists_the_user() -> None:
    board = Board(EXPIRY)
    board.hear(note("dc1", ON, "alice"), 1000)
    assert board.hear(note("dc3", ON, "alice"), 1100) == [], "already online: no change to tell"
    assert board.hear(note("dc1", OFF, "alice"), 1200) == [], "her device at dc3 is still live"
    assert board.online("alice", 1300)
    assert board.hear(note("dc3", OFF, "alice"), 1400) == [Change("alice", False, 1400)]


def test_a_dc_that_stops_beating_takes_its_users_offline_after_the_expiry() -> None:
    board = Board(EXPIRY)
    board.hear(note("dc1", BEAT, "alice", "bob"), 1000)
    board.hear(note("dc2", BEAT, "carol"), 1000)
    board.hear(note("dc2", BEAT, "carol"), 4000)
    assert board.expire(5900) == [], "within the expiry nothing changes"
    assert board.online("alice", 5900)
    changes = board.expire(6001)
    assert sorted(changes, key=lambda c: c.user_id) == [
        Change("alice", False, 1000),
        Change("bob", False, 1000),
    ], "last seen: the last beat that listed them"
    assert board.online("carol", 6001)
    assert board.expire(6100) == [], "each change is told once"
    assert board.hear(note("dc1", BEAT, "alice"), 7000) == [Change("alice", True)], "the DC is back"


def test_beats_keep_a_user_online_past_the_expiry() -> None:
    board = Board(EXPIRY)
    for at in range(0, 20_000, 2000):
        board.hear(note("dc1", BEAT, "alice"), at)
        assert board.expire(at + 1) == []
    assert board.online("alice", 20_000)


def test_a_late_beat_brings_back_a_user_shown_offline_before_the_expiry_check() -> None:
    """dc1's beats run late (a healed cut, a stalled loop): its entry for alice is stale but not
    yet expired when dc2's ``off`` shows her offline; dc1's next beat must show her online again."""
    board = Board(EXPIRY)
    board.hear(note("dc1", BEAT, "alice"), 0)
    board.hear(note("dc2", ON, "alice"), 1000)
    assert board.hear(note("dc2", OFF, "alice"), 5200) == [Change("alice", False, 5200)]
    assert board.hear(note("dc1", BEAT, "alice"), 5300) == [Change("alice", True)]
    assert board.expire(5400) == [], "told once"


def test_an_off_note_for_a_user_never_seen_changes_nothing() -> None:
    board = Board(EXPIRY)
    assert board.hear(note("dc1", OFF, "ghost"), 1000) == []
    assert board.last_seen("ghost", 1000) is None and not board.online("ghost", 1000)


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
        "presence_expiry_s = 2.0",  # not above the default beat (2 s)
    ],
)
def test_the_config_refuses_presence_limits_that_cannot_work(tmp_path: Path, lines: str) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(f"[limits]\n{lines}\n")
    with pytest.raises(ConfigError, match=lines.split()[0]):
        load_config(path)
