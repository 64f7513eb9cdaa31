"""A user's sessions: starting one at login, listing them, ending them, changing the password.

Every session is a ``session_started`` event in the accounts stream, appended before its token is
handed out; ending sessions (``session_revoked``, ``sessions_ended``, ``password_changed``) are
events of the same stream. So "every session started before this event" names the same sessions
in every DC, decided by the log's order and not by any clock, and a session the log does not end
stays valid. Each DC refuses the ended tokens and closes their WebSockets as it applies the event
(service/projector.py, service/hub.py).
"""

from __future__ import annotations

import secrets
import time

from firebreak.adapters.nats_log import Log
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_rows import SessionRow, UserRow
from firebreak.domain import events as ev
from firebreak.domain.ids import ACCOUNTS_STREAM, user_subject
from firebreak.domain.validation import check_client_id, check_password, check_unicode
from firebreak.errors import Conflict, Forbidden, NotFound, Unauthorized
from firebreak.limits import Limits
from firebreak.service.auth import Passwords, TokenClaims, Tokens
from firebreak.service.sync import Freshness
from firebreak.wire.views import SessionInfo, SessionList, SessionView, UserView


def now_ms() -> int:
    return int(time.time() * 1000)


def client_description(user_agent: str | None, max_chars: int) -> str:
    """What the session list shows of a client: its User-Agent's printable characters, cut to
    ``max_chars`` (docs/LIMITS.md); it is the client's word, shown to its own user only."""
    text = "".join(ch for ch in user_agent or "" if ch.isprintable())
    return text[:max_chars]


def session_info(row: SessionRow, current: str) -> SessionInfo:
    return SessionInfo(
        session_id=row.session_id,
        started_at=row.started_at,
        expires_at=row.expires_at,
        dc=row.dc,
        client=row.client,
        current=row.session_id == current,
    )


class AccountSessions:
    def __init__(
        self,
        log: Log,
        queries: Queries,
        fresh: Freshness,
        tokens: Tokens,
        passwords: Passwords,
        limits: Limits,
        dc: str,
    ) -> None:
        self._log = log
        self._q = queries
        self._fresh = fresh
        self._tokens = tokens
        self._passwords = passwords
        self._limits = limits
        self._dc = dc

    async def start(self, user: UserRow, user_view: UserView, client: str) -> SessionView:
        """Records a new session of ``user`` (whose password was just checked) and returns its
        token. The token is handed out only once the log holds the session."""
        token, claims = self._tokens.issue(user.user_id)
        event = ev.SessionStarted(
            v=1,
            at=claims.issued_at,
            user_id=user.user_id,
            session_id=claims.session_id,
            expires_at=claims.expires_at,
            dc=self._dc,
            client=client_description(client, self._limits.max_client_chars),
            password_gen=user.password_gen,
        )
        appended = await self._log.append(
            user_subject(user.user_id), ev.encode(event), f"login:{claims.session_id}"
        )
        await self._fresh.until_applied(appended)
        if self._q.is_revoked(claims.session_id):
            # The password was changed elsewhere before this login reached the log: the projection
            # ended the session at once, in every DC.
            raise Unauthorized("wrong username or password", code="bad_credentials")
        return SessionView(
            token=token, session_id=claims.session_id, expires_at=claims.expires_at, user=user_view
        )

    def list(self, claims: TokenClaims) -> SessionList:
        rows = self._q.sessions_of(claims.user_id, int(time.time()), self._limits.sessions_list_max)
        return SessionList(sessions=[session_info(r, claims.session_id) for r in rows])

    async def end_others(self, claims: TokenClaims, request_id: str | None) -> SessionList:
        """Log out everywhere else: ends every session of the user started before this request
        reached the log, except the caller's; returns the sessions left."""
        if request_id is not None:
            check_client_id(request_id, "request_id")
        rid = request_id or secrets.token_hex(12)
        event = ev.SessionsEnded(
            v=1, at=now_ms(), user_id=claims.user_id, keep=claims.session_id, request_id=rid
        )
        appended = await self._log.append(
            user_subject(claims.user_id), ev.encode(event), f"endall:{claims.session_id}:{rid}"
        )
        await self._fresh.until_applied(appended)
        self._still_live(claims)
        return self.list(claims)

    async def end_one(self, claims: TokenClaims, session_id: str) -> None:
        """Ends one session of the caller's user (another device's, or the caller's own)."""
        owner = self._q.session_owner(session_id)
        if owner is None:
            await self._fresh.barrier(ACCOUNTS_STREAM)  # started a moment ago in another DC?
            owner = self._q.session_owner(session_id)
        if owner != claims.user_id:
            raise NotFound("you have no session with this id", code="unknown_session")
        event = ev.SessionRevoked(v=1, at=now_ms(), user_id=claims.user_id, session_id=session_id)
        appended = await self._log.append(
            user_subject(claims.user_id), ev.encode(event), f"revoke:{session_id}"
        )
        await self._fresh.until_applied(appended)

    async def change_password(self, claims: TokenClaims, current: str, new: str, request_id: str) -> None:
        """Replaces the password (``current`` must be right: 403 otherwise, nothing changes) and
        ends every other session of the user. A retry with the same ``request_id`` and new password
        answers as the first attempt did."""
        check_unicode(current, "the current password")
        check_password(new)
        check_client_id(request_id, "request_id")
        # The newest password, even if it was changed a moment ago in another DC.
        await self._fresh.barrier(ACCOUNTS_STREAM)
        user = self._user(claims.user_id)
        if user.password_request_id == request_id:
            return await self._same_change(user, new)
        if not await self._passwords.verify(user.password_hash, current):
            raise Forbidden("the current password is wrong", code="wrong_password")
        event = ev.PasswordChanged(
            v=1,
            at=now_ms(),
            user_id=claims.user_id,
            password_hash=await self._passwords.hash(new),
            keep=claims.session_id,
            request_id=request_id,
        )
        appended = await self._log.append(
            user_subject(claims.user_id), ev.encode(event), f"pw:{claims.user_id}:{request_id}"
        )
        await self._fresh.until_applied(appended)
        self._still_live(claims)
        if appended.duplicate:  # JetStream knew the id: maybe from another body
            await self._same_change(self._user(claims.user_id), new)

    async def _same_change(self, user: UserRow, new: str) -> None:
        """``user``'s last change carried this request id: the same change (nothing to do), or
        the id reused for another password (409)."""
        if not await self._passwords.verify(user.password_hash, new):
            raise Conflict("this request_id was used to set another password", code="request_id_reused")

    def _user(self, user_id: str) -> UserRow:
        user = self._q.user_by_id(user_id)
        if user is None:
            raise NotFound("unknown user", code="unknown_user")
        return user

    def _still_live(self, claims: TokenClaims) -> None:
        """After applying our own event: if the caller's session was ended before it in the log
        (by a change made at the same time elsewhere), the event was skipped in every DC."""
        if self._q.is_revoked(claims.session_id):
            raise Unauthorized("this session has been logged out", code="session_revoked")
