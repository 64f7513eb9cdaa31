"""What a client may send: usernames, ids, passwords, names, message text and positions.

Pure rules, each raising a :class:`~firebreak.errors.FirebreakError` with a stable code. The
gateway's OpenAPI document is built from the same constants (entrypoints/gateway/boundary.py), and
docs/LIMITS.md lists them.

Patterns are always matched whole with ``re.fullmatch``: ``$`` also matches before a trailing
newline, which would let ``"name\\n"`` through to a NATS subject and into the log's
de-duplication.
The ``*_PATTERN`` strings are JSON Schema (ECMA-262) patterns, where ``$`` is the end of the text.
"""

from __future__ import annotations

import re
import unicodedata

from firebreak.errors import BadRequest, TooLarge

USERNAME_MIN, USERNAME_MAX = 3, 32
USERNAME_PATTERN = f"^[a-z0-9_]{{{USERNAME_MIN},{USERNAME_MAX}}}$"
_USERNAME = re.compile(USERNAME_PATTERN[1:-1])

#: Client-chosen ids (message ``client_id``, ``request_id``): printable ASCII, no spaces, bounded,
#: because they become part of log message ids.
CLIENT_ID_MAX = 64
CLIENT_ID_PATTERN = f"^[A-Za-z0-9_.:\\-]{{1,{CLIENT_ID_MAX}}}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN[1:-1])

PASSWORD_MIN, PASSWORD_MAX = 8, 256

#: Largest room_seq (or stream sequence) a client may name: the largest integer every JSON client
#: reads exactly, and far below SQLite's 64-bit INTEGER, which a larger number overflowed.
MAX_POSITION = 2**53 - 1

#: The only characters a Python str can hold that UTF-8 cannot encode: lone surrogates (JSON's
#: ``"\\ud800"`` decodes to one). SQLite, NATS and msgspec all refuse them.
_SURROGATE = re.compile("[\ud800-\udfff]")

#: What a name (display name, room name) may not hold: control characters (category Cc: NUL,
#: ESC, newline...), line and paragraph separators (U+2028, U+2029), and bidirectional controls,
#: which reorder what is displayed around them ("evil\u202etxt.exe"): U+061C, U+200E, U+200F,
#: U+202A-202E, U+2066-2069. A regex character class, shared with the JSON Schema pattern.
_NAME_FORBIDDEN = "\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069"
NAME_PATTERN = f"^[^{_NAME_FORBIDDEN}]+$"
_NAME_FORBIDDEN_CHAR = re.compile(f"[{_NAME_FORBIDDEN}]")
#: Letters that draw nothing (Hangul fillers, blank Braille): the usual way to a "blank" name.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
#: Categories that draw nothing on their own: controls, format characters (zero-width space and
#: joiners, BOM), surrogates, unassigned, separators, and combining marks without a base.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})


def is_visible(ch: str) -> bool:
    return ch not in _BLANK_LETTERS and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES


def has_visible(text: str) -> bool:
    return any(is_visible(ch) for ch in text)


def check_unicode(value: str, what: str) -> str:
    """Refuses text that is not UTF-8 encodable (lone surrogates), in any field."""
    if _SURROGATE.search(value):
        raise BadRequest(
            f"{what} is not valid Unicode text (it holds a lone surrogate)", code="invalid_unicode"
        )
    return value


def check_username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise BadRequest(
            f"a username is {USERNAME_MIN}-{USERNAME_MAX} characters of a-z, 0-9 and _",
            code="invalid_username",
        )
    return value


def is_username(value: str) -> bool:
    return _USERNAME.fullmatch(value) is not None


def check_client_id(value: str, what: str = "client_id") -> str:
    if not _CLIENT_ID.fullmatch(value):
        raise BadRequest(
            f"{what} must be 1-{CLIENT_ID_MAX} characters of A-Z a-z 0-9 _ . : -", code=f"invalid_{what}"
        )
    return value


def check_password(value: str) -> str:
    check_unicode(value, "the password")
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise BadRequest(f"a password is {PASSWORD_MIN}-{PASSWORD_MAX} characters", code="invalid_password")
    return value


def check_name(value: str, max_chars: int, code: str, what: str) -> str:
    """A display name or room name, stripped: 1-``max_chars`` characters, one line, no controls
    or bidi overrides, and something visible (not only spaces, fillers or zero-width characters)."""
    check_unicode(value, f"the {what}")
    value = value.strip()
    if not 1 <= len(value) <= max_chars:
        raise BadRequest(f"a {what} is 1-{max_chars} characters", code=code)
    forbidden = _NAME_FORBIDDEN_CHAR.search(value)
    if forbidden:
        raise BadRequest(
            f"a {what} may not hold control characters or bidi controls (U+{ord(forbidden[0]):04X})",
            code=code,
        )
    if not has_visible(value):
        raise BadRequest(f"a {what} needs a visible character", code=code)
    return value


def check_message_text(text: str, max_chars: int) -> str:
    """Message text is free (newlines, right-to-left marks) but must show something."""
    check_unicode(text, "the message text")
    if len(text) > max_chars:
        raise TooLarge(f"a message has at most {max_chars} characters", code="message_too_large")
    if not has_visible(text):
        raise BadRequest("a message needs visible text", code="empty_message")
    return text


def username_lookalike(display_name: str) -> str | None:
    """The username a display name would pass for, if any: compatibility-folded (fullwidth
    letters become ASCII), case-folded, with a leading ``@`` and the characters that draw
    nothing and take no room (zero-width ones, fillers) dropped."""
    folded = unicodedata.normalize("NFKC", display_name).casefold()
    bare = "".join(ch for ch in folded if is_visible(ch) or ch.isspace()).removeprefix("@")
    return bare if is_username(bare) else None


def check_position(value: int, what: str, *, minimum: int) -> int:
    if not minimum <= value <= MAX_POSITION:
        raise BadRequest(f"{what} must be {minimum}-{MAX_POSITION}", code="invalid_position")
    return value
