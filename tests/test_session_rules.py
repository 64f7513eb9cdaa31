"""The projection's session rules, without a cluster: which sessions an account event ends, decided
by the order of the accounts stream (docs/SECURITY.md, "Sessions")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import cast

import msgspec
import pytest

from firebreak.adapters import sqlite_store
from firebreak.adapters.nats_log import Log as EventLog
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.domain import events as ev
from firebreak.domain.ids import ACCOUNTS_STREAM
from firebreak.errors import Unauthorized
from firebreak.limits import Limits
from firebreak.service.account_sessions import AccountSessions, client_description
from firebreak.service.accounts import Accounts
from firebreak.service.auth import Passwords, Tokens
from firebreak.service.projector import Projector
from firebreak.service.ratelimit import WriteLimiter
from firebreak.service.sync import Freshness
from firebreak.service.throttle import Throttle

U = "u_alice"


class Log:
    """Applies account events through a real projector and read model, one batch each."""

    def __init__(self) -> None:
        conn = sqlite_store.connect(":memory:")
        self.ended: list[tuple[str, str]] = []
        self.projector = Projector(
            SqliteStore(conn), 1, lambda applied: None, revoked=lambda u, s: self.ended.append((u, s))
        )
        self.q = Queries(conn)
        self.seq = 0

    def apply(self, *events: ev.AccountEvent) -> None:
        batch = []
        for event in events:
            self.seq += 1
            batch.append((ACCOUNTS_STREAM, self.seq, ev.encode(event)))
        self.projector.apply_batch(batch)

    def live(self) -> set[str]:
        return {s.session_id for s in self.q.sessions_of(U, 0, 100)}


def registered() -> ev.UserRegistered:
    return ev.UserRegistered(
        v=1, at=1, user_id=U, username="alice", password_hash="h0", display_name="alice", request_id="r"
    )


def started(sid: str, gen: int = 0) -> ev.SessionStarted:
    return ev.SessionStarted(
        v=1, at=2, user_id=U, session_id=sid, expires_at=10**10, dc="dc1", client="cli", password_gen=gen
    )


def test_log_out_everywhere_ends_the_sessions_before_it_in_the_log_but_the_callers() -> None:
    log = Log()
    log.apply(registered(), started("a"), started("b"), started("c"))
    log.apply(ev.SessionsEnded(v=1, at=3, user_id=U, keep="a", request_id="r1"), started("d"))
    assert log.live() == {"a", "d"}, "b and c ended; d started after the event in the log stays"
    assert sorted(log.ended) == [(U, "b"), (U, "c")], "the hub is told, to close their sockets"
    assert log.q.is_revoked("b") and log.q.is_revoked("c") and not log.q.is_revoked("d")


def test_an_ended_session_cannot_end_the_others_or_change_the_password() -> None:
    log = Log()
    log.apply(registered(), started("a"), started("b"))
    log.apply(
        ev.PasswordChanged(v=1, at=3, user_id=U, password_hash="h1", keep="a", request_id="p1"),
        # made at the same moment from b, in a DC that had not applied the change above yet
        ev.PasswordChanged(v=1, at=3, user_id=U, password_hash="h2", keep="b", request_id="p2"),
        ev.SessionsEnded(v=1, at=3, user_id=U, keep="b", request_id="r2"),
    )
    user = log.q.user_by_id(U)
    assert user is not None and user.password_hash == "h1" and user.password_gen == 1
    assert user.password_request_id == "p1"
    assert log.live() == {"a"}


def test_a_login_checked_against_a_changed_password_is_ended() -> None:
    """A DC that had not applied the change yet accepted the old password: the projection ends
    that session as it applies it, in every DC; a login with the new password stays."""
    log = Log()
    log.apply(registered(), started("a"))
    log.apply(ev.PasswordChanged(v=1, at=3, user_id=U, password_hash="h1", keep="a", request_id="p1"))
    log.apply(started("stale", gen=0), started("fresh", gen=1))
    assert log.live() == {"a", "fresh"}
    assert log.q.is_revoked("stale") and (U, "stale") in log.ended


def test_revoking_one_session_and_the_list_hides_expired_ones() -> None:
    log = Log()
    log.apply(registered(), started("a"), started("b"))
    log.apply(ev.SessionRevoked(v=1, at=3, user_id=U, session_id="b"))
    assert log.live() == {"a"} and log.ended == [(U, "b")]
    assert log.q.session_owner("b") == U, "an ended session still has its owner (a retried end is fine)"
    assert log.q.sessions_of(U, 10**10 + 1, 100) == [], "expired sessions are not listed"


def test_tokens_carry_their_issue_time_and_client_descriptions_are_cut() -> None:
    tokens = Tokens(b"k" * 32, ttl_s=60)
    _, claims = tokens.issue("u_1")
    assert claims.issued_at > 0
    assert client_description("Mozilla/5.0\n\x1b[31m" + "x" * 500, 20) == "Mozilla/5.0[31mxxxxx"


def test_a_token_without_an_issue_time_is_refused() -> None:
    """Tokens made before logins were logged (fields u, s, e only) are not in the session list, so
    log out everywhere could not end them: they are refused; a new token is accepted."""
    key = b"k" * 32
    tokens = Tokens(key, ttl_s=60)
    log = Log()
    accounts = Accounts(
        cast(EventLog, None),
        log.q,
        cast(Freshness, None),
        tokens,
        Passwords(),
        Limits(),
        cast(AccountSessions, None),
        WriteLimiter.from_limits(Limits()),
        cast(Throttle, None),  # authenticate never throttles
    )
    payload = base64.urlsafe_b64encode(
        msgspec.json.encode({"u": U, "s": "0" * 24, "e": int(time.time()) + 60})
    ).rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).rstrip(b"=")
    old = f"fbt1.{payload.decode()}.{mac.decode()}"
    assert tokens.verify(old).user_id == U, "the signature is good"
    with pytest.raises(Unauthorized) as refused:
        accounts.authenticate(old)
    assert refused.value.code == "token_expired"
    assert accounts.authenticate(tokens.issue(U)[0]).user_id == U
