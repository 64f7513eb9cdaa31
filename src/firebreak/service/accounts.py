"""Account commands: register, log in, log out, display name; and token authentication."""

from __future__ import annotations

import time

from firebreak.adapters.nats_log import Log, SubjectNotEmpty
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_rows import UserRow
from firebreak.domain import events as ev
from firebreak.domain.ids import ACCOUNTS_STREAM, user_id_for, user_subject, username_subject
from firebreak.domain.validation import (
    check_client_id,
    check_name,
    check_password,
    check_unicode,
    check_username,
    is_username,
    username_lookalike,
)
from firebreak.errors import Conflict, NotFound, Unauthorized
from firebreak.limits import Limits
from firebreak.service.account_sessions import AccountSessions
from firebreak.service.auth import Passwords, TokenClaims, Tokens
from firebreak.service.ratelimit import WriteLimiter
from firebreak.service.sync import Freshness
from firebreak.service.throttle import Throttle
from firebreak.wire.views import SessionView, UserView


def now_ms() -> int:
    return int(time.time() * 1000)


def user_view(row: UserRow) -> UserView:
    return UserView(user_id=row.user_id, username=row.username, display_name=row.display_name)


def check_display_name(name: str, limits: Limits) -> str:
    return check_name(name, limits.max_display_name_chars, "invalid_display_name", "display name")


class Accounts:
    def __init__(
        self,
        log: Log,
        queries: Queries,
        fresh: Freshness,
        tokens: Tokens,
        passwords: Passwords,
        limits: Limits,
        sessions: AccountSessions,
        limiter: WriteLimiter,
        throttle: Throttle,
    ) -> None:
        #: Listing and ending sessions, changing the password (service/account_sessions.py).
        self.sessions = sessions
        self._limiter = limiter
        self._throttle = throttle
        self._log = log
        self._passwords = passwords
        self._q = queries
        self._fresh = fresh
        self._tokens = tokens
        self._limits = limits

    async def register(
        self, username: str, password: str, display_name: str | None, request_id: str, source: str = ""
    ) -> UserView:
        """Creates an account. Retrying with the same ``request_id`` returns the same account.
        ``source`` is the client's address: registrations are throttled per address."""
        check_username(username)
        check_password(password)
        check_client_id(request_id, "request_id")
        name = check_display_name(display_name if display_name is not None else username, self._limits)
        await self._throttle.registration(source)  # before any hashing
        existing = self._q.user_by_username(username)
        if existing is not None:
            return await self._same_request_or_taken(existing, request_id, password)
        self._not_anothers_username(name, username)
        event = ev.UserRegistered(
            v=1,
            at=now_ms(),
            user_id=user_id_for(username),
            username=username,
            password_hash=await self._passwords.hash(password),
            display_name=name,
            request_id=request_id,
        )
        try:
            appended = await self._log.append(
                username_subject(username),
                ev.encode(event),
                f"reg:{username}:{request_id}",
                expect_empty_subject=True,
            )
        except SubjectNotEmpty:
            # Taken, or our own earlier attempt whose acknowledgement was lost: the request id tells.
            await self._fresh.barrier(ACCOUNTS_STREAM)
            existing = self._q.user_by_username(username)
            if existing is None:  # pragma: no cover - the barrier makes this unreachable
                raise
            return await self._same_request_or_taken(existing, request_id, password)
        await self._fresh.until_applied(appended)
        row = self._q.user_by_username(username)
        assert row is not None
        if appended.duplicate:  # JetStream knew the id: maybe another body with the same request_id
            return await self._same_request_or_taken(row, request_id, password)
        return user_view(row)

    async def _same_request_or_taken(self, existing: UserRow, request_id: str, password: str) -> UserView:
        """The answer when the username is already registered: our own earlier attempt (same
        request_id and password) or someone else's name. The password is the part of the body
        that matters and the log holds only its salted hash, so it is checked by verifying."""
        if existing.request_id != request_id:
            raise Conflict(f"username {existing.username!r} is taken", code="username_taken")
        if not await self._passwords.verify(existing.password_hash, password):
            raise Conflict(
                "this request_id was used to register with another password", code="request_id_reused"
            )
        return user_view(existing)

    def _not_anothers_username(self, display_name: str, own_username: str) -> None:
        """Refuses a display name that passes for another user's username (docs/DECISIONS.md).
        Checked against this DC's read model: best effort, like every uniqueness the log does
        not enforce."""
        lookalike = username_lookalike(display_name)
        if lookalike is not None and lookalike != own_username and self._q.user_by_username(lookalike):
            raise Conflict(
                f"{display_name!r} is another user's username; choose another display name",
                code="display_name_taken",
            )

    async def login(self, username: str, password: str, source: str = "", client: str = "") -> SessionView:
        """``source`` is the client's address: guesses are throttled per address and per account
        (service/throttle.py), before any hashing. ``client`` describes it in the session list."""
        check_unicode(password, "the password")
        if not is_username(username):
            raise Unauthorized("wrong username or password", code="bad_credentials")
        attempt = await self._throttle.login_attempt(username, source)
        row = self._q.user_by_username(username)
        if row is None:
            await self._fresh.barrier(ACCOUNTS_STREAM)  # registered a moment ago in another DC?
            row = self._q.user_by_username(username)
        # An unknown user is checked against a dummy hash: it takes as long as a wrong password.
        if not await self._passwords.verify(row.password_hash if row else None, password) or row is None:
            raise Unauthorized("wrong username or password", code="bad_credentials")
        await self._throttle.login_succeeded(attempt)
        return await self.sessions.start(row, user_view(row), client)

    def authenticate(self, token: str) -> TokenClaims:
        claims = self._tokens.verify(token)
        if not claims.issued_at:
            # Made before logins were recorded in the log: log out everywhere could not end it.
            raise Unauthorized("this token is from an older version; log in again", code="token_expired")
        if self._q.is_revoked(claims.session_id):
            raise Unauthorized("this session has been logged out", code="session_revoked")
        return claims

    async def logout(self, claims: TokenClaims) -> None:
        event = ev.SessionRevoked(v=1, at=now_ms(), user_id=claims.user_id, session_id=claims.session_id)
        appended = await self._log.append(
            user_subject(claims.user_id), ev.encode(event), f"revoke:{claims.session_id}"
        )
        await self._fresh.until_applied(appended)

    async def set_display_name(self, user_id: str, display_name: str) -> UserView:
        name = check_display_name(display_name, self._limits)
        self._not_anothers_username(name, self.me(user_id).username)
        event = ev.DisplayNameChanged(v=1, at=now_ms(), user_id=user_id, display_name=name)
        with self._limiter.admit(event):
            appended = await self._log.append(
                user_subject(user_id), ev.encode(event), f"dn:{user_id}:{event.at}:{name}"
            )
            await self._fresh.until_applied(appended)
        return self.me(user_id)

    def me(self, user_id: str) -> UserView:
        row = self._q.user_by_id(user_id)
        if row is None:
            raise NotFound("unknown user", code="unknown_user")
        return user_view(row)

    async def resolve(self, usernames: list[str]) -> list[str]:
        """Usernames to user ids; looks once more after a barrier before calling a name unknown."""
        out: list[str] = []
        synced = False
        for name in usernames:
            row = self._q.user_by_username(check_username(name))
            if row is None and not synced:
                await self._fresh.barrier(ACCOUNTS_STREAM)
                synced = True
                row = self._q.user_by_username(name)
            if row is None:
                raise NotFound(f"no user named {name!r}", code="unknown_user")
            out.append(row.user_id)
        return out
