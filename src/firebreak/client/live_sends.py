"""Commands over the live connection (wire/commands.py): sends and mark-reads written as frames on
the :class:`~firebreak.client.live.LiveConnection`'s socket, pipelined, each answered by an ack.

Every command waits in :attr:`LiveSends.pending` until its ack arrives. When the connection is
lost, nothing is failed: once a connection is live again (on whichever DC), every pending command
is written again, in the order they were first given, with the same client_id, so the server
answers each with its first result (duplicate: true where the lost connection's copy went
through) and one room's messages keep their order. Acks are matched by ``ref``. If no connection
is live again within ``wait_for_connection_s`` (every other DC refusing the WebSocket, a proxy
that lets only HTTP through), the pending commands are handed back to their callers, in order,
to go over HTTP (client.py keeps each room's order there: client/room_order.py).

An ack answers as the HTTP request would: 429 is asked again after its ``retry_after_s``; a
502/503/504 (this DC cannot take writes now: draining, catching up, cut off from the log), a 409
``earlier_send_failed`` (a send of the room given before it was refused: the gateway takes no
later one until that one comes again) and a connection that ended for good (CLOSED) hand the
command back to the caller, which sends it over HTTP with its failover (client.py), behind every
earlier send of its room (client/room_order.py); other errors raise
:class:`~firebreak.client.transport.ApiError`.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from firebreak.client.live import LiveConnection, LiveState
from firebreak.client.transport import ApiError, TryAgain, Unreachable
from firebreak.errors import FirebreakError
from firebreak.retry import Backoff
from firebreak.retry import retry as retry_helper
from firebreak.wire.commands import (
    EARLIER_SEND_FAILED,
    Command,
    RawAck,
    ReadCommand,
    SendCommand,
    decode_ack,
    encode_command,
)
from firebreak.wire.views import ReadResult, SendResult

T = TypeVar("T")

#: Statuses after which the command goes over HTTP instead (the transport fails over to another DC).
_ELSEWHERE = {502, 503, 504}
_BACKOFF = Backoff(first_s=0.05, max_s=1.0)
#: Commands written on a connection and not yet answered, at most: the gateway's
#: ``ws_commands_in_flight`` (docs/LIMITS.md), past which it answers 429 ``too_many_commands``, and
#: a command refused so and asked again would land after later ones. The rest wait here, in order.
MAX_IN_FLIGHT = 100
#: How long commands wait for a live connection again before they go over HTTP instead: a few
#: reconnect attempts (the live connection's backoff tops out at 1 s), well under a send's deadline.
WAIT_FOR_CONNECTION_S = 5.0


class UseHttp(Exception):
    """The live connection cannot carry this command now: send it over HTTP."""


@dataclass
class _Pending:
    frame: bytes
    answer: asyncio.Future[RawAck | None]
    on_retry: Callable[[FirebreakError], None] | None = None
    #: Told at once when the command is handed back to go over HTTP (client/room_order.py).
    handed_back: Callable[[], None] | None = None
    written_at: list[float] = field(default_factory=list)
    #: The connection (LiveSends' count of them) it is written on and unanswered, else -1.
    on: int = -1

    def hand_back(self, ack: RawAck | None) -> None:
        if self.handed_back is not None:
            self.handed_back()
        self.answer.set_result(ack)


class LiveSends:
    """Commands over one LiveConnection (see the module's docstring)."""

    def __init__(
        self,
        live: LiveConnection,
        *,
        wait_for_connection_s: float = WAIT_FOR_CONNECTION_S,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._live = live
        self._wait_for_connection_s = wait_for_connection_s
        self._max_in_flight = max_in_flight
        self._hand_over: asyncio.TimerHandle | None = None
        self._refs = itertools.count(1)
        #: ref -> the command waiting for its ack, in the order given (dicts keep it).
        self.pending: dict[str, _Pending] = {}
        #: Connections that went live so far; commands written on the current one and unanswered.
        self._connection = 0
        self._on_wire = 0
        #: Refs of pending commands not written on the current connection yet, in the order given.
        self._unwritten: deque[str] = deque()
        #: Commands acknowledged, and written again on a new connection (for tests and status lines).
        self.acked = 0
        self.resent = 0
        live.on_change(self._changed)
        live.on_ack(self._acked)

    @property
    def ready(self) -> bool:
        """Whether a command given now goes out at once."""
        return self._live.state is LiveState.LIVE and self._live.ws is not None

    async def send(
        self,
        room_id: str,
        client_id: str,
        text: str,
        *,
        deadline_s: float,
        on_retry: Callable[[FirebreakError], None] | None = None,
        handed_back: Callable[[], None] | None = None,
    ) -> SendResult:
        """Sends one message; raises :class:`UseHttp` when it should go over HTTP instead, and
        calls ``handed_back`` the moment it decides so (before the caller runs again)."""

        def make(ref: str) -> Command:
            return SendCommand(ref=ref, room_id=room_id, client_id=client_id, text=text)

        return await self._call(make, SendResult, deadline_s, on_retry, handed_back)

    async def mark_read(self, room_id: str, up_to: int, *, deadline_s: float) -> ReadResult:
        def make(ref: str) -> Command:
            return ReadCommand(ref=ref, room_id=room_id, up_to=up_to)

        return await self._call(make, ReadResult, deadline_s, None, None)

    async def _call(
        self,
        make: Callable[[str], Command],
        type: type[T],
        deadline_s: float,
        on_retry: Callable[[FirebreakError], None] | None,
        handed_back: Callable[[], None] | None,
    ) -> T:
        end = time.monotonic() + deadline_s

        async def attempt() -> T:
            ack = await self._command(make, end, on_retry, handed_back)
            if ack.status < 300 and len(ack.result):
                return msgspec.json.decode(ack.result, type=type)
            error = (TryAgain if ack.status == 429 else ApiError)(
                ack.message or "", code=ack.code, status=ack.status, retry_after_s=ack.retry_after_s
            )
            if _elsewhere(ack):
                if on_retry is not None and ack.status in _ELSEWHERE:  # not a 409: no outage
                    on_retry(error)
                raise UseHttp(ack.code) from error
            raise error

        def heard(exc: BaseException) -> None:
            if on_retry is not None and isinstance(exc, FirebreakError):
                on_retry(exc)

        return await retry_helper(
            attempt,
            retry_on=(TryAgain,),
            deadline=None if math.isinf(end) else end,
            backoff=_BACKOFF,
            on_retry=heard,
        )

    async def _command(
        self,
        make: Callable[[str], Command],
        end: float,
        on_retry: Callable[[FirebreakError], None] | None,
        handed_back: Callable[[], None] | None,
    ) -> RawAck:
        if self._live.state is LiveState.CLOSED:
            if handed_back is not None:
                handed_back()
            raise UseHttp("closed")
        ref = str(next(self._refs))
        answer: asyncio.Future[RawAck | None] = asyncio.get_running_loop().create_future()
        pending = self.pending[ref] = _Pending(encode_command(make(ref)), answer, on_retry, handed_back)
        self._unwritten.append(ref)
        self._write_waiting()
        try:
            timeout = None if math.isinf(end) else max(0.0, end - time.monotonic())
            ack = await asyncio.wait_for(asyncio.shield(answer), timeout)
        except TimeoutError as exc:
            raise Unreachable("no acknowledgement on the live connection in time") from exc
        finally:
            self.pending.pop(ref, None)
            self._answered(pending)
        if ack is None:
            raise UseHttp("the live connection ended")
        return ack

    def _write_waiting(self) -> None:
        """Writes the commands that wait, in order, while the connection is live and has room."""
        while self._unwritten and self.ready and self._on_wire < self._max_in_flight:
            pending = self.pending.get(self._unwritten.popleft())
            if pending is not None and not pending.answer.done():
                self._write(pending)

    def _answered(self, pending: _Pending) -> None:
        """Its ack came (or it left): its place on the connection goes to the next that waits."""
        if pending.on == self._connection:
            pending.on = -1
            self._on_wire -= 1
            self._write_waiting()

    def _write(self, pending: _Pending) -> None:
        ws = self._live.ws
        if ws is None:
            return
        self.resent += bool(pending.written_at)
        pending.on = self._connection
        self._on_wire += 1
        pending.written_at.append(time.monotonic())
        # websockets writes a text frame synchronously when send() starts, so tasks started in
        # this order write in this order; a write into a lost connection is simply repeated
        # on the next one.
        task = asyncio.ensure_future(ws.send(pending.frame.decode()))
        task.add_done_callback(_ignore_failure)

    def _changed(self, state: LiveState, dc: int) -> None:
        if state in (LiveState.LIVE, LiveState.CLOSED) and self._hand_over is not None:
            self._hand_over.cancel()
            self._hand_over = None
        if state is LiveState.LIVE:
            # A new connection: everything unanswered is written again, in order, as room allows.
            self._connection += 1
            self._on_wire = 0
            self._unwritten = deque(ref for ref, pending in self.pending.items() if not pending.answer.done())
            self._write_waiting()
        elif state is LiveState.BACKOFF:
            lost = Unreachable("the live connection was lost; unacknowledged commands go again on the next")
            for pending in self.pending.values():
                if pending.on_retry is not None:
                    pending.on_retry(lost)
            if self._hand_over is None:  # counted from the first failure, not each retry
                loop = asyncio.get_running_loop()
                self._hand_over = loop.call_later(self._wait_for_connection_s, self._give_back)
        elif state is LiveState.CLOSED:
            self._give_back()

    def _give_back(self) -> None:
        """Hands every pending command back to its caller (which sends it over HTTP), in order."""
        self._hand_over = None
        for pending in self.pending.values():
            if not pending.answer.done():
                pending.hand_back(None)

    def _acked(self, frame: bytes | str) -> None:
        try:
            ack = decode_ack(frame)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        pending = self.pending.get(ack.ref)
        if pending is not None and not pending.answer.done():
            self.acked += 1
            if _elsewhere(ack):
                pending.hand_back(ack)  # the caller sends it over HTTP (_call)
            else:
                pending.answer.set_result(ack)
            self._answered(pending)


def _elsewhere(ack: RawAck) -> bool:
    """Whether the command goes over HTTP instead: the DC cannot take it now, or an earlier send of
    its room is being sent again (over HTTP, where this one then follows it in turn)."""
    return ack.status in _ELSEWHERE or ack.code == EARLIER_SEND_FAILED


def _ignore_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
