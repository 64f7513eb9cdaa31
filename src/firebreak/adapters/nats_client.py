"""nats-py's client with a faster parser for message headers.

Every entry a gateway reads from the log carries six or seven headers (``Nats-Stream``,
``Nats-Subject``, ``Nats-Sequence``, ``Nats-Time-Stamp``, ``Nats-Last-Sequence``, and the
writer's ``Nats-Msg-Id`` or batch headers), and nats-py 2.16 parses them in pure Python, decoding
each name and value separately and checking names with a generator: a large share of a gateway's
CPU under batch ingest (docs/PERFORMANCE.md). The parser below is faster on the headers NATS
sends and gives the same result for every input (tests/test_nats_client.py compares the two on
generated header blocks); a block that is not pure ASCII goes to nats-py's own parser. It replaces
nats-py's private ``_parse_header_lines`` in a subclass; nats-py is pinned in pyproject.toml, and
the comparison test fails if a new version parses differently.
"""

from __future__ import annotations

from nats.aio.client import Client as NATS

#: What ``bytes.strip()`` strips (``str.strip()`` would also strip \x1c-\x1f and others).
_ASCII_SPACE = " \t\n\r\x0b\x0c"


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """``Name: value`` lines separated by CRLF -> dict; the same result as nats-py's parser."""
    if not raw.isascii():
        return NATS._parse_header_lines(raw)  # rare (NATS itself sends ASCII): nats-py's own
    # ASCII (every header NATS itself sends): decode once instead of twice per line.
    out: dict[str, str] = {}
    for line in raw.decode("ascii").split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip(_ASCII_SPACE)
        # A name of letters, digits and dashes has no whitespace inside; others get the check.
        if not key.replace("-", "").isalnum() and any(c.isspace() for c in key):
            continue
        out[key] = value.strip(_ASCII_SPACE)
    return out


class Client(NATS):
    """nats-py's client; only header parsing differs (see the module docstring)."""

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        return parse_header_lines(raw)
