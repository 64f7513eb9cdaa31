"""The faster header parser gives exactly nats-py's result, for NATS's own headers and for
arbitrary bytes (whitespace, colons, non-ASCII, empty names)."""

from __future__ import annotations

import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from firebreak.adapters import nats_client
from firebreak.adapters.nats_client import Client, parse_header_lines

NATS_HEADERS = (
    b"Nats-Batch-Id: 2c4b041a94314a1b961a65537ea8e498\r\nNats-Batch-Sequence: 2\r\n"
    b"Nats-Stream: ROOMS_0\r\nNats-Subject: rooms.0.g_1\r\nNats-Sequence: 17\r\n"
    b"Nats-Time-Stamp: 2026-11-28T21:32:47.268425725Z\r\nNats-Last-Sequence: 16\r\n\r\n"
)

# Bytes that matter to the parser, mixed with ordinary ones.
_piece = st.sampled_from(
    [b"Nats-Seq", b"a", b"-", b":", b": ", b" ", b"\t", b"\x1c", b"\x0b", b"\xc3\xa9", b"\xff", b"1", b"\r\n"]
)
header_blocks = st.lists(_piece, max_size=30).map(b"".join)


def test_nats_headers_parse_the_same() -> None:
    assert parse_header_lines(NATS_HEADERS) == NATS._parse_header_lines(NATS_HEADERS)
    assert parse_header_lines(NATS_HEADERS)["Nats-Sequence"] == "17"


@settings(max_examples=2000, deadline=None)
@given(raw=header_blocks)
def test_any_block_parses_the_same(raw: bytes) -> None:
    assert parse_header_lines(raw) == NATS._parse_header_lines(raw)


def test_the_client_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails if the override is removed or nats-py stops parsing headers through that method."""
    seen: list[bytes] = []

    def spy(raw: bytes) -> dict[str, str]:
        seen.append(raw)
        return parse_header_lines(raw)

    monkeypatch.setattr(nats_client, "parse_header_lines", spy)
    assert Client()._parse_header_lines(NATS_HEADERS)["Nats-Sequence"] == "17"
    assert seen == [NATS_HEADERS], "the subclass's parser was not used"
    # nats-py (pinned) still routes every message's headers through this method.
    assert "_parse_header_lines" in inspect.getsource(NATS._process_headers)
