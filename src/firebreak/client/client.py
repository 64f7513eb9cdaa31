"""HTTP side of the client: every call goes to the current DC and fails over to the next on
connection loss or on 502/503/504 (that DC cannot serve right now); a 429 is asked again at the
same DC, no sooner than its ``Retry-After`` says.

Writes carry a client-chosen id, so :meth:`Client.send` simply retries, on any DC, with the same id
until one DC acknowledges: the server turns every retry into the same single message.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import msgspec

from firebreak.errors import FirebreakError
from firebreak.retry import Backoff
from firebreak.retry import retry as retry_helper
from firebreak.wire.requests import (
    BatchBody,
    DirectBody,
    EditBody,
    GroupBody,
    InviteBody,
    LeaveBody,
    LoginBody,
    PasswordBody,
    ReactBody,
    ReadBody,
    RegisterBody,
    RenameBody,
    SendBody,
    TransferBody,
)
from firebreak.wire.views import (
    WRITE_URL_HEADER,
    BatchResult,
    EditHistory,
    History,
    MessageView,
    ReadResult,
    RoomDetail,
    RoomList,
    RoomView,
    SearchResult,
    SendResult,
    SessionList,
    SessionView,
    UserView,
)
from firebreak.wire.wallet_views import TransferView, WalletHistory, WalletView

T = TypeVar("T")

#: Statuses after which the same request may go to another DC.
_RETRY_ELSEWHERE = {502, 503, 504}


class ApiError(FirebreakError):
    """An error answer from a gateway (its ``code`` and ``status`` are the server's)."""


class TryAgain(ApiError):
    """An answer that a later try may turn into success (429, 502, 503, 504)."""


#: Between tries: from 50 ms doubling to 1 s (or the server's Retry-After, if longer).
_BACKOFF = Backoff(first_s=0.05, max_s=1.0)


class Unreachable(FirebreakError):
    code = "unreachable"
    status = 503


class _ErrorBody(msgspec.Struct):
    error: dict[str, str]


def _wait_s(resp: httpx.Response) -> float:
    """The answer's Retry-After in seconds (0 when absent or not a number of seconds)."""
    value = resp.headers.get("retry-after", "")
    return float(value) if value.isdigit() else 0.0


#: Under this key ``answer_headers`` holds the URL of the DC that answered (not a real header).
ANSWERED_BY = ":answered-by"


def new_id() -> str:
    return secrets.token_hex(12)


class Client:
    def __init__(
        self, dc_urls: list[str], *, preferred: int = 0, timeout: float = 15.0, retry_deadline: float = 60.0
    ) -> None:
        if not dc_urls:
            raise ValueError("a client needs at least one DC")
        self.dc_urls = list(dc_urls)
        self.current = preferred % len(dc_urls)
        self.token: str | None = None
        self.user: UserView | None = None
        self.retry_deadline = retry_deadline
        self._http = httpx.AsyncClient(timeout=timeout)
        self.failovers = 0
        #: room id -> index of the DC the server named for that room's writes (Firebreak-Write-Url)
        self.write_dc: dict[str, int] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def current_token(self) -> str | None:
        """The session token, read at call time: pass ``client.current_token`` to a LiveConnection so
        a reconnect uses the newest token."""
        return self.token

    @property
    def base_url(self) -> str:
        return self.dc_urls[self.current]

    def move_to(self, index: int) -> None:
        """Makes DC ``index`` the current one, for a caller that follows another connection (the
        terminal chat keeps its requests on the DC its live connection reached)."""
        self.current = index % len(self.dc_urls)

    def resume(self, session: SessionView) -> None:
        """Uses a session obtained earlier (by another Client, or before a restart)."""
        self.token = session.token
        self.user = session.user

    def _fail_over(self, index: int, *, follow: bool) -> int:
        """The DC after ``index``; it becomes the current DC when ``follow``."""
        index = (index + 1) % len(self.dc_urls)
        if follow:
            self.current = index
        self.failovers += 1
        return index

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        type: type[T],
        retry: bool = True,
        dc: int | None = None,
        answer_headers: dict[str, str] | None = None,
        deadline_s: float | None = None,
        on_retry: Callable[[FirebreakError], None] | None = None,
    ) -> T:
        """Sends the request to the current DC, moving on to the next DC while it is unreachable or
        answers 502/503/504, until ``retry_deadline`` (or ``deadline_s`` for this call: ``math.inf`` tries
        until it works or the caller cancels). 4xx answers raise ApiError at once (429 waits,
        unless its Retry-After is past the deadline: a locked login says when to come back, and
        asking meanwhile only counts more failed attempts).

        ``dc`` (an index into ``dc_urls``) is tried first instead of the current DC, and moving on
        from it leaves the current DC as it is (a room's write hint). ``answer_headers`` receives
        the headers of a successful answer, and under :data:`ANSWERED_BY` the URL of the DC that
        gave it; ``on_retry`` hears each error that is tried again."""
        end = time.monotonic() + (self.retry_deadline if deadline_s is None else deadline_s)
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        payload = msgspec.to_builtins(body) if isinstance(body, msgspec.Struct) else body
        index = self.current if dc is None else dc

        async def attempt() -> T:
            nonlocal index
            url = self.dc_urls[index]
            try:
                resp = await self._http.request(method, url + path, json=payload, headers=headers)
            except httpx.TransportError as exc:
                index = self._fail_over(index, follow=dc is None)
                raise Unreachable(f"{url}: {exc!r}") from exc
            if resp.status_code < 400:
                if answer_headers is not None:
                    answer_headers.update(resp.headers)
                    answer_headers[ANSWERED_BY] = url
                return msgspec.json.decode(resp.content, type=type)
            if resp.status_code in _RETRY_ELSEWHERE:
                index = self._fail_over(index, follow=dc is None)
            raise self._error(resp)

        def heard(exc: BaseException) -> None:
            if on_retry is not None and isinstance(exc, FirebreakError):
                on_retry(exc)

        return await retry_helper(
            attempt,
            retry_on=(Unreachable, TryAgain) if retry else (),
            deadline=end,
            backoff=_BACKOFF,
            on_retry=heard,
        )

    @staticmethod
    def _error(resp: httpx.Response) -> ApiError:
        """The answer as an error; a TryAgain when the same request may succeed later (429: at
        this DC after ``Retry-After``; 502/503/504: at another DC)."""
        kind = TryAgain if resp.status_code == 429 or resp.status_code in _RETRY_ELSEWHERE else ApiError
        wait = resp.headers.get("retry-after", "")
        retry_after_s = int(wait) if wait.isascii() and wait.isdigit() else None
        try:
            err = msgspec.json.decode(resp.content, type=_ErrorBody).error
            message, code = err.get("message", ""), err.get("code", "unknown")
        except msgspec.DecodeError:
            message, code = resp.text[:200], "http_error"
        return kind(message, code=code, status=resp.status_code, retry_after_s=retry_after_s)

    # ---- accounts -----------------------------------------------------------------------------

    async def register(self, username: str, password: str, display_name: str | None = None) -> UserView:
        body = RegisterBody(username, password, request_id=new_id(), display_name=display_name)
        return await self.request("POST", "/v1/accounts", body, type=UserView)

    async def login(self, username: str, password: str) -> SessionView:
        session = await self.request("POST", "/v1/sessions", LoginBody(username, password), type=SessionView)
        self.token = session.token
        self.user = session.user
        return session

    async def logout(self) -> None:
        await self.request("DELETE", "/v1/sessions/current", type=dict)
        self.token = None

    async def list_sessions(self) -> SessionList:
        """The user's live sessions, newest first; ``current`` marks this client's."""
        return await self.request("GET", "/v1/sessions", type=SessionList)

    async def logout_everywhere(self, request_id: str | None = None) -> SessionList:
        """Ends every other session of the user, in every DC (this one stays: :meth:`logout` ends
        it); returns the sessions left. Retries are safe: they carry the same request id."""
        rid = request_id or new_id()
        return await self.request("DELETE", f"/v1/sessions?request_id={rid}", type=SessionList)

    async def end_session(self, session_id: str) -> None:
        """Ends one session of the user (another device's), in every DC."""
        await self.request("DELETE", f"/v1/sessions/{session_id}", type=dict)

    async def change_password(self, current: str, new: str, request_id: str | None = None) -> None:
        """Changes the password and ends every other session of the user; this one stays."""
        body = PasswordBody(current, new, request_id or new_id())
        await self.request("PUT", "/v1/me/password", body, type=dict)

    async def me(self) -> UserView:
        return await self.request("GET", "/v1/me", type=UserView)

    # ---- rooms --------------------------------------------------------------------------------

    async def open_direct(self, username: str) -> RoomView:
        return await self.request("POST", "/v1/rooms/direct", DirectBody(username), type=RoomView)

    async def create_group(self, name: str, members: list[str], request_id: str | None = None) -> RoomView:
        body = GroupBody(name, members, request_id or new_id())
        return await self.request("POST", "/v1/rooms", body, type=RoomView)

    async def invite(self, room_id: str, members: list[str]) -> RoomView:
        body = InviteBody(members, new_id())
        return await self.request("POST", f"/v1/rooms/{room_id}/members", body, type=RoomView)

    async def leave(self, room_id: str) -> None:
        await self.request("POST", f"/v1/rooms/{room_id}/leave", LeaveBody(new_id()), type=dict)

    async def rename(self, room_id: str, name: str) -> RoomView:
        return await self.request("PATCH", f"/v1/rooms/{room_id}", RenameBody(name, new_id()), type=RoomView)

    async def rooms(self) -> RoomList:
        return await self.request("GET", "/v1/rooms", type=RoomList)

    async def room(self, room_id: str) -> RoomDetail:
        return await self.request("GET", f"/v1/rooms/{room_id}", type=RoomDetail)

    async def send(
        self,
        room_id: str,
        text: str,
        client_id: str | None = None,
        *,
        deadline_s: float | None = None,
        on_retry: Callable[[FirebreakError], None] | None = None,
        answer_headers: dict[str, str] | None = None,
    ) -> SendResult:
        """Sends with retries across DCs until acknowledged; the id makes every retry the same message.
        ``deadline_s``, ``on_retry`` and ``answer_headers`` as for :meth:`request` (an outbox passes
        ``math.inf``)."""
        body = SendBody(client_id=client_id or new_id(), text=text)
        path = f"/v1/rooms/{room_id}/messages"
        return await self._room_write(
            room_id, path, body, SendResult, deadline_s, on_retry, answer_headers=answer_headers
        )

    async def send_batch(self, room_id: str, items: list[tuple[str, str]]) -> BatchResult:
        """Sends (client_id, text) pairs in one request, in order, all or none; retries are safe."""
        body = BatchBody([SendBody(client_id=cid, text=text) for cid, text in items])
        return await self._room_write(room_id, f"/v1/rooms/{room_id}/messages/batch", body, BatchResult)

    async def _room_write(
        self,
        room_id: str,
        path: str,
        body: Any,
        type: type[T],
        deadline_s: float | None = None,
        on_retry: Callable[[FirebreakError], None] | None = None,
        answer_headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> T:
        """POSTs (or ``method``) a write to a room: to the DC that the last answer for this room named in
        ``Firebreak-Write-Url`` (the DC leading the room's log stream), else to the current DC.
        Only a preference: any DC takes the write, and failing over works as for every call. An
        answer without a usable hint, or a failed call, drops the room's hint."""
        answer: dict[str, str] = {} if answer_headers is None else answer_headers
        try:
            return await self.request(
                method,
                path,
                body,
                type=type,
                dc=self.write_dc.get(room_id),
                answer_headers=answer,
                deadline_s=deadline_s,
                on_retry=on_retry,
            )
        finally:
            hint = answer.get(WRITE_URL_HEADER, "").rstrip("/")
            known = [url.rstrip("/") for url in self.dc_urls]
            if hint in known:
                self.write_dc[room_id] = known.index(hint)
            else:
                self.write_dc.pop(room_id, None)

    async def history(
        self, room_id: str, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> History:
        params = [f"limit={limit}"]
        if before is not None:
            params.append(f"before={before}")
        if after is not None:
            params.append(f"after={after}")
        return await self.request("GET", f"/v1/rooms/{room_id}/messages?{'&'.join(params)}", type=History)

    async def edit_message(
        self, room_id: str, room_seq: int, text: str, client_id: str | None = None
    ) -> MessageView:
        """Replaces the text of one's own message; retries are safe (one edit per client_id)."""
        body = EditBody(client_id=client_id or secrets.token_hex(8), text=text)
        return await self._room_write(
            room_id, f"/v1/rooms/{room_id}/messages/{room_seq}", body, MessageView, method="PATCH"
        )

    async def delete_message(self, room_id: str, room_seq: int) -> MessageView:
        """Deletes one's own message for everyone; retries are safe."""
        return await self._room_write(
            room_id, f"/v1/rooms/{room_id}/messages/{room_seq}", None, MessageView, method="DELETE"
        )

    async def react(
        self, room_id: str, room_seq: int, emoji: str, *, on: bool = True, request_id: str | None = None
    ) -> MessageView:
        """Adds (or with ``on=False`` removes) one's reaction; doing it twice changes nothing."""
        body = ReactBody(emoji=emoji, on=on, request_id=request_id or secrets.token_hex(8))
        path = f"/v1/rooms/{room_id}/messages/{room_seq}/reactions"
        return await self._room_write(room_id, path, body, MessageView)

    async def edit_history(self, room_id: str, room_seq: int) -> EditHistory:
        return await self.request("GET", f"/v1/rooms/{room_id}/messages/{room_seq}/edits", type=EditHistory)

    async def search(
        self, query: str, *, room_id: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> SearchResult:
        params: dict[str, str] = {"q": query}
        if room_id is not None:
            params["room_id"] = room_id
        if limit is not None:
            params["limit"] = str(limit)
        if cursor is not None:
            params["cursor"] = cursor
        return await self.request("GET", f"/v1/search?{urlencode(params)}", type=SearchResult)

    async def mark_read(self, room_id: str, up_to: int) -> ReadResult:
        return await self.request("POST", f"/v1/rooms/{room_id}/read", ReadBody(up_to), type=ReadResult)

    # ---- wallet -------------------------------------------------------------------------------

    async def transfer(
        self,
        to: str,
        amount: int,
        client_id: str | None = None,
        *,
        dc: int | None = None,
        room_id: str | None = None,
    ) -> TransferView:
        """Pays ``amount`` to the user named ``to``; retried across DCs with the same id, so it
        moves money once (a repeat answers the first result)."""
        body = TransferBody(client_id=client_id or new_id(), to=to, amount=amount, room_id=room_id)
        return await self.request("POST", "/v1/wallet/transfers", body, type=TransferView, dc=dc)

    async def wallet(self, at_least: int | None = None) -> WalletView:
        query = "" if at_least is None else f"?at_least={at_least}"
        return await self.request("GET", f"/v1/wallet{query}", type=WalletView)

    async def wallet_history(
        self, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> WalletHistory:
        params = [f"limit={limit}"]
        if before is not None:
            params.append(f"before={before}")
        if after is not None:
            params.append(f"after={after}")
        return await self.request("GET", f"/v1/wallet/history?{'&'.join(params)}", type=WalletHistory)
