"""tests/fuzz_checks.py lets through only a 503 that says "not now" (Retry-After and a documented
code); every other 5xx still fails the API fuzz."""

from __future__ import annotations

import json

from tests.fuzz_checks import not_now


def _body(code: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": "..."}}).encode()


def test_only_a_503_that_says_not_now_passes() -> None:
    retry = {"retry-after": ["1"]}
    assert not_now(503, retry, _body("log_unavailable"))
    assert not_now(503, retry, _body("dc_draining"))
    assert not not_now(503, {}, _body("log_unavailable")), "without Retry-After"
    assert not not_now(503, retry, _body("internal_error")), "an undocumented code"
    assert not not_now(503, retry, b"<html>Service Unavailable</html>"), "no error body"
    assert not not_now(500, retry, _body("log_unavailable")), "a 500 is never a 'not now'"
    assert not not_now(502, retry, _body("log_unavailable"))
