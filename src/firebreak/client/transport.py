"""The client's HTTP transport: every call goes to the current DC and fails over to the next on
connection loss or on 502/503/504 (that DC cannot serve right now); a 429 is asked again at the
same DC, no sooner than its ``Retry-After`` says. The calls themselves are in client.py.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Self, TypeVar

import httpx
import msgspec

from firebreak.errors import FirebreakError
from firebreak.retry import Backoff
from firebreak.retry import retry as retry_helper
from firebreak.wire.views import (
    WRITE_URL_HEADER,
    SessionView,
    UserView,
)

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


class Transport:
    """What every call needs: the DCs, the session token, failover and retries."""

    def __init__(
        self,
        dc_urls: list[str],
        *,
        preferred: int = 0,
        timeout: float = 15.0,
        retry_deadline: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not dc_urls:
            raise ValueError("a client needs at least one DC")
        self.dc_urls = list(dc_urls)
        self.current = preferred % len(dc_urls)
        self.token: str | None = None
        self.user: UserView | None = None
        self.retry_deadline = retry_deadline
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self.failovers = 0
        #: room id -> index of the DC the server named for that room's writes (Firebreak-Write-Url)
        self.write_dc: dict[str, int] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
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
                raise self._error(resp, waits=self.dc_urls[index] == url)
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

    async def request_bytes(
        self, method: str, path: str, content: bytes | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Like :meth:`request` for bodies that are bytes (attachments' chunks and downloads):
        the same failover and retries; answers the response (2xx or 304) itself."""
        sent = {**({"authorization": f"Bearer {self.token}"} if self.token else {}), **(headers or {})}
        index = self.current

        async def attempt() -> httpx.Response:
            nonlocal index
            url = self.dc_urls[index]
            try:
                resp = await self._http.request(method, url + path, content=content, headers=sent)
            except httpx.TransportError as exc:
                index = self._fail_over(index, follow=True)
                raise Unreachable(f"{url}: {exc!r}") from exc
            if resp.status_code < 400:
                return resp
            if resp.status_code in _RETRY_ELSEWHERE:
                index = self._fail_over(index, follow=True)
                raise self._error(resp, waits=self.dc_urls[index] == url)
            raise self._error(resp)

        return await retry_helper(
            attempt,
            retry_on=(Unreachable, TryAgain),
            deadline=time.monotonic() + self.retry_deadline,
            backoff=_BACKOFF,
        )

    @staticmethod
    def _error(resp: httpx.Response, *, waits: bool = True) -> ApiError:
        """The answer as an error; a TryAgain when the same request may succeed later (429: at
        this DC after ``Retry-After``; 502/503/504: at another DC). ``waits=False`` drops the
        answer's Retry-After: it said when to ask *that* DC again, and the next try goes to another
        (a cut-off DC says 3 s; its clients' writes belong at the majority at once)."""
        kind = TryAgain if resp.status_code == 429 or resp.status_code in _RETRY_ELSEWHERE else ApiError
        wait = resp.headers.get("retry-after", "") if waits else ""
        retry_after_s = int(wait) if wait.isascii() and wait.isdigit() else None
        try:
            err = msgspec.json.decode(resp.content, type=_ErrorBody).error
            message, code = err.get("message", ""), err.get("code", "unknown")
        except msgspec.DecodeError:
            message, code = resp.text[:200], "http_error"
        return kind(message, code=code, status=resp.status_code, retry_after_s=retry_after_s)

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
