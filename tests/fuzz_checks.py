"""The API fuzz's server-error check (tests/test_api_fuzz.py loads it through SCHEMATHESIS_HOOKS).

schemathesis's ``not_a_server_error`` fails on every 5xx. A 503 with ``Retry-After`` and one of
the documented "not now" codes (docs/API.md) is the API's answer when the log or this DC cannot
take the call at that moment, which a loaded machine can bring about during any run (on two busy
cores a stream's leader may not answer within the 5 s a wallet transfer waits for it). That
answer is right; any other 5xx, or a 503 without it, is still a failure.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response

#: 503 codes that say "not now, ask again" (docs/API.md, the 503 row).
NOT_NOW = {"log_unavailable", "dc_starting", "dc_draining", "dc_catching_up", "dc_cut_off", "busy"}


def _code(content: bytes) -> str | None:
    try:
        error = json.loads(content)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def not_now(status: int, headers: dict[str, list[str]], content: bytes) -> bool:
    """Whether a response is a 503 that says when to ask again and why."""
    return status == 503 and bool(headers.get("retry-after")) and _code(content) in NOT_NOW


@schemathesis.check
def no_server_error_but_not_now(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """No 5xx, but a 503 that says "not now" (see the module's docstring)."""
    status = response.status_code
    if status >= 500 and not not_now(status, response.headers, response.content):
        raise AssertionError(f"server error {status} from {case.operation.label}: {response.content[:300]!r}")
