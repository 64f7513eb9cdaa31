"""The input rules of the domain (domain/validation.py), without a cluster."""

from __future__ import annotations

import pytest

from firebreak.domain import validation as v
from firebreak.domain.ids import Cursor
from firebreak.domain.validation import check_client_id
from firebreak.errors import BadRequest, TooLarge


@pytest.mark.parametrize("name", ["zz_nl\n", "ab", "a" * 33, "Abc", "a b", "ab\u0131", "abc\x00", "\ud800ab"])
def test_usernames_match_whole(name: str) -> None:
    with pytest.raises(BadRequest) as err:
        v.check_username(name)
    assert err.value.code == "invalid_username"


def test_ids_match_whole() -> None:
    assert check_client_id("nl-dup") == "nl-dup"
    for bad in ("nl-dup\n", "", "x" * 65, "a b", "\ud800"):
        with pytest.raises(BadRequest) as err:
            check_client_id(bad, "request_id")
        assert err.value.code == "invalid_request_id"


def test_text_must_be_utf8() -> None:
    with pytest.raises(BadRequest) as err:
        v.check_password("long enough \ud800")
    assert err.value.code == "invalid_unicode"
    with pytest.raises(BadRequest) as err:
        v.check_message_text("long enough \ud800", 100)
    assert err.value.code == "invalid_unicode"
    with pytest.raises(BadRequest) as err:
        v.check_name("ok\udfff", 64, "invalid_display_name", "display name")
    assert err.value.code == "invalid_unicode"


@pytest.mark.parametrize(
    "name",
    [
        "a\x00b",
        "a\x1bb",
        "a\u202eb",
        "\u2066x\u2069",
        "a\u200fb",
        "a\u061cb",
        "\u200b",
        "\u3164",
        " ",
        "x" * 65,
    ],
)
def test_display_name_rules(name: str) -> None:
    with pytest.raises(BadRequest) as err:
        v.check_name(name, 64, "invalid_display_name", "display name")
    assert err.value.code == "invalid_display_name"


def test_names_that_pass() -> None:
    assert v.check_name("  Kim \u00e9\u0301 \U0001f600 ", 64, "invalid_display_name", "display name") == (
        "Kim \u00e9\u0301 \U0001f600"
    )
    assert (
        v.check_name("\u05e9\u05dc\u05d5\u05dd", 64, "invalid_room_name", "room name")
        == "\u05e9\u05dc\u05d5\u05dd"
    )


def test_messages_need_visible_text() -> None:
    for blank in ("", " \n\t", "\u200b\u200c\u200d", "\ufeff\u2060", "\u3164\u115f", "\u0301"):
        with pytest.raises(BadRequest) as err:
            v.check_message_text(blank, 100)
        assert err.value.code == "empty_message", repr(blank)
    assert v.check_message_text("line one\nline two \u202e", 100)
    with pytest.raises(TooLarge) as too_long:
        v.check_message_text("x" * 101, 100)
    assert (too_long.value.status, too_long.value.code) == (413, "message_too_large")


def test_impersonation_key() -> None:
    assert v.username_lookalike("@Bob_1") == "bob_1"
    assert v.username_lookalike("\uff42\uff4f\uff42") == "bob", "fullwidth letters fold to ASCII"
    assert v.username_lookalike("b\u200bob") == "bob"
    assert v.username_lookalike("Bob Smith") is None


def test_positions_are_bounded() -> None:
    assert v.check_position(0, "after", minimum=0) == 0
    for bad in (-1, v.MAX_POSITION + 1, 2**63):
        with pytest.raises(BadRequest) as err:
            v.check_position(bad, "after", minimum=0)
        assert err.value.code == "invalid_position"
    with pytest.raises(BadRequest):
        Cursor.parse(f"c1-{2**63}-0-0", 3)
    with pytest.raises(BadRequest):
        Cursor.parse("c1-\u0661-0-0", 3)  # an Arabic-Indic digit: int() takes it, a cursor does not
