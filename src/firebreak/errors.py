"""The one error base of Firebreak.

Every error that can reach a client is a :class:`FirebreakError` carrying a stable machine-readable
``code``, an HTTP ``status`` and a human ``message``. Lower layers raise their own subclasses (or
library errors that the boundary translates with ``raise ... from exc``); the gateway renders any
FirebreakError as ``{"error": {"code": ..., "message": ...}}`` (entrypoints/gateway/boundary.py).
"""

from __future__ import annotations


class FirebreakError(Exception):
    """Base of every Firebreak error. Subclasses fix ``code`` and ``status``."""

    code = "internal_error"
    status = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        #: Whole seconds until asking again can succeed; sent as ``Retry-After`` (429 and 503).
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str] | None:
        return None if self.retry_after_s is None else {"retry-after": str(max(1, self.retry_after_s))}


#: Statuses that say the same request may succeed later (after ``Retry-After``, or at another DC).
TRY_AGAIN_STATUSES = frozenset({429, 502, 503, 504})


def says_try_again(exc: BaseException) -> bool:
    """Whether ``exc`` refuses for now, not for good."""
    return isinstance(exc, FirebreakError) and exc.status in TRY_AGAIN_STATUSES


class BadRequest(FirebreakError):
    code = "bad_request"
    status = 400


class Unauthorized(FirebreakError):
    code = "unauthorized"
    status = 401


class Forbidden(FirebreakError):
    code = "forbidden"
    status = 403


class NotFound(FirebreakError):
    code = "not_found"
    status = 404


class Conflict(FirebreakError):
    code = "conflict"
    status = 409


class TooLarge(FirebreakError):
    code = "too_large"
    status = 413


class RateLimited(FirebreakError):
    code = "rate_limited"
    status = 429


class Unavailable(FirebreakError):
    """This DC cannot answer right now; another DC may (clients move on after a 503): the log has
    no quorum or is electing a leader, the read model has not caught up, or the DC is starting or
    draining (``code`` says which)."""

    code = "log_unavailable"
    status = 503


class OAuthError(FirebreakError):
    """An OAuth 2.0 / OpenID Connect protocol error (RFC 6749 5.2): ``code`` is the standard error
    code (``invalid_grant``, ``invalid_client``...), rendered as ``{"error": code,
    "error_description": message}`` at the token endpoints, or sent back to the site's redirect URI
    by the authorization endpoint."""

    code = "invalid_request"
    status = 400


class ConfigError(FirebreakError):
    code = "config_error"
    status = 500
