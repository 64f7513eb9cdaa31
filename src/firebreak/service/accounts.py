"""Account commands: register, log in, log out, display name; and token authentication."""

from __future__ import annotations

import time

from firebreak.adapters.nats_log import Log, SubjectNotEmpty
from firebreak.adapters.sqlite_queries import Queries, UserRow
from firebreak.config import Limits
from firebreak.domain import events as ev
from firebreak.domain.ids import (
    ACCOUNTS_STREAM,
    USERNAME_RE,
    check_client_id,
    user_id_for,
    user_subject,
    username_subject,
)
from firebreak.errors import BadRequest, Conflict, NotFound, Unauthorized
from firebreak.service.auth import Passwords, TokenClaims, Tokens
from firebreak.service.sync import Freshness
from firebreak.service.views import SessionView, UserView

MIN_PASSWORD = 8
MAX_PASSWORD = 256


def now_ms() -> int:
    return int(time.time() * 1000)


def user_view(row: UserRow) -> UserView:
    return UserView(user_id=row.user_id, username=row.username, display_name=row.display_name)


def check_display_name(name: str, limits: Limits) -> str:
    name = name.strip()
    if not 1 <= len(name) <= limits.max_display_name_chars:
        raise BadRequest(
            f"display name must be 1-{limits.max_display_name_chars} characters", code="invalid_display_name"
        )
    return name


class Accounts:
    def __init__(
        self,
        log: Log,
        queries: Queries,
        fresh: Freshness,
        tokens: Tokens,
        passwords: Passwords,
        limits: Limits,
    ) -> None:
        self._log = log
        self._passwords = passwords
        self._q = queries
        self._fresh = fresh
        self._tokens = tokens
        self._limits = limits

    async def register(
        self, username: str, password: str, display_name: str | None, request_id: str
    ) -> UserView:
        """Creates an account. Retrying with the same ``request_id`` returns the same account."""
        if not USERNAME_RE.match(username):
            raise BadRequest("username must be 3-32 characters of a-z, 0-9 and _", code="invalid_username")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise BadRequest(
                f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters", code="invalid_password"
            )
        check_client_id(request_id, "request_id")
        name = check_display_name(display_name if display_name is not None else username, self._limits)
        existing = self._q.user_by_username(username)
        if existing is not None:
            return self._same_request_or_taken(existing, request_id)
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
            return self._same_request_or_taken(existing, request_id)
        await self._fresh.applied(appended)
        row = self._q.user_by_username(username)
        assert row is not None
        return user_view(row)

    @staticmethod
    def _same_request_or_taken(existing: UserRow, request_id: str) -> UserView:
        if existing.request_id == request_id:
            return user_view(existing)
        raise Conflict(f"username {existing.username!r} is taken", code="username_taken")

    async def login(self, username: str, password: str) -> SessionView:
        row = self._q.user_by_username(username)
        if row is None and USERNAME_RE.match(username):
            await self._fresh.barrier(ACCOUNTS_STREAM)  # registered a moment ago in another DC?
            row = self._q.user_by_username(username)
        if row is None or not await self._passwords.verify(row.password_hash, password):
            raise Unauthorized("wrong username or password", code="bad_credentials")
        token, claims = self._tokens.issue(row.user_id)
        return SessionView(token=token, session_id=claims.s, expires_at=claims.e, user=user_view(row))

    def authenticate(self, token: str) -> TokenClaims:
        claims = self._tokens.verify(token)
        if self._q.is_revoked(claims.s):
            raise Unauthorized("this session has been logged out", code="session_revoked")
        return claims

    async def logout(self, claims: TokenClaims) -> None:
        event = ev.SessionRevoked(v=1, at=now_ms(), user_id=claims.u, session_id=claims.s)
        appended = await self._log.append(user_subject(claims.u), ev.encode(event), f"revoke:{claims.s}")
        await self._fresh.applied(appended)

    async def set_display_name(self, user_id: str, display_name: str) -> UserView:
        name = check_display_name(display_name, self._limits)
        event = ev.DisplayNameChanged(v=1, at=now_ms(), user_id=user_id, display_name=name)
        appended = await self._log.append(
            user_subject(user_id), ev.encode(event), f"dn:{user_id}:{event.at}:{name}"
        )
        await self._fresh.applied(appended)
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
            row = self._q.user_by_username(name)
            if row is None and not synced:
                await self._fresh.barrier(ACCOUNTS_STREAM)
                synced = True
                row = self._q.user_by_username(name)
            if row is None:
                raise NotFound(f"no user named {name!r}", code="unknown_user")
            out.append(row.user_id)
        return out
