"""What the login drill's simulated sites record (drill/login.py) and the checker judges
(drill/login_checker.py): each attempt, each family's probe, and the families the site keeps."""

from __future__ import annotations

import hashlib

import msgspec


class LoginRecord(msgspec.Struct):
    """One sign-in or refresh as the site saw it, after all its retries."""

    kind: str  # "sign_in" or "refresh"
    user: str
    started: float
    finished: float = 0.0
    ok: bool = False
    #: The last error code ("" when ok): an OAuth error, "http_<status>" or "unreachable".
    error: str = ""
    #: The DC that answered the token request (ok or refused), or "" if none did.
    dc: str = ""
    #: For a sign-in: the DC that issued the code, and a fingerprint of the code.
    code_dc: str = ""
    code: str = ""
    family: str = ""
    #: 1 for a sign-in's tokens, +1 for each acknowledged refresh.
    generation: int = 0
    #: Some try may have reached a DC and changed state without the site hearing back.
    doubtful: bool = False
    tries: int = 0


class FamilyProbe(msgspec.Struct, frozen=True):
    """A check after the drill of a family's newest acknowledged tokens at one DC."""

    family: str
    dc: str
    #: "introspect" (the refresh token is active), "userinfo" (the access token works) or
    #: "refresh" (the refresh token rotates)
    check: str
    ok: bool
    error: str = ""


class Family(msgspec.Struct):
    family: str
    user: str
    refresh_token: str
    access_token: str
    generation: int
    code: str
    #: The last attempt on this family was acknowledged: its tokens are the current ones.
    clean: bool = True


class Transient(Exception):
    """A try that may be retried at another DC."""

    def __init__(self, error: str, doubtful: bool) -> None:
        super().__init__(error)
        self.error, self.doubtful = error, doubtful


class Refused(Exception):
    def __init__(self, error: str, dc: str) -> None:
        super().__init__(error)
        self.error, self.dc = error, dc


def fingerprint(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def family_of(refresh_token: str) -> str:
    return refresh_token.split(".")[1]
