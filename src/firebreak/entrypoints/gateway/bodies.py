"""Why a JSON body or command frame could not be decoded: shared by the hot lane's sends (hot.py)
and the live socket's commands (ws_commands.py), so both answer the same error."""

from __future__ import annotations

import json

import msgspec

from firebreak.domain.validation import check_unicode
from firebreak.errors import BadRequest


def undecodable(body: bytes | str, exc: msgspec.DecodeError, what: str = "body") -> BadRequest:
    """Why msgspec refused ``body``. It also refuses a lone surrogate escape ("\\ud800"), which is
    JSON but no Unicode text: 400 invalid_unicode, as FastAPI's routes answer (domain/validation.py).
    Only failed decodes pay for the second parse."""
    try:
        check_unicode(json.dumps(json.loads(body), ensure_ascii=False), f"the {what}")
    except BadRequest as refused:
        return refused
    except (ValueError, RecursionError):
        pass
    return BadRequest(f"{what}: not valid JSON ({exc})", code="malformed_request")
