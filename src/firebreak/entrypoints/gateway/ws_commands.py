"""Commands over the live WebSocket (wire/commands.py): sends and mark-reads as frames on the
connection a client already has, answered by ``ack`` frames.

A command takes the same path as its HTTP request: the DC's refusal for writes (draining,
catching up, cut off from the log: 503), the token (checked again for every command, so a token
that expired or was logged out meanwhile gets the same 401 as over HTTP), then
:meth:`Messages.queue_send` (what :meth:`Messages.send` runs) / :meth:`Rooms.mark_read` with their
validation, idempotency by client_id, rate limits and metrics. The ack's status, result and error
are the HTTP answer's.

Pipelining: a connection may have up to ``ws_commands_in_flight`` commands unacknowledged. Each
room's commands start one after another, in the order they arrived, each once the one before has
its place in the log (a send: checked and queued for the room, where group commit keeps
the queue's order, so a sender's per-room order is the log's); their appends and acks then
overlap, and different rooms' run at once. An ack goes out as soon as its command is done: acks
may come in any order, and an ack may come before or after the ``event`` frame of the same
message (the event is written when this DC applies it, the ack after that but through another
path); clients match acks by ``ref`` and their own messages by ``client_id``.

A send that is not taken (429, 502/503/504, or its append failing) holds the room's later sends
on this connection: they are refused with 409 ``earlier_send_failed`` until the refused ones come
again, oldest first (domain/send_order.py), so that sending them again keeps the room's order.

When the connection ends, commands not yet started are dropped and running ones finish without an
ack: the client resends every unacknowledged command, with the same client_id, on its next
connection, and gets the first result back (duplicate: true where the first one went through).

A client that keeps sending frames while it reads none: the answers the socket cannot take at
once (refusals, which the cap does not count) wait in one queue per connection, written one at a
time; once :data:`UNANSWERED_PER_COMMAND` times ``ws_commands_in_flight`` of them wait, the
connection gives up on the client, ending its session as a slow consumer (close 4408, as for
events it does not read) and ignoring its further frames, so such a client holds a bounded amount
of the gateway's memory and no task per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from firebreak.domain.send_order import SendOrder
from firebreak.entrypoints.gateway.boundary import decode_body
from firebreak.errors import FirebreakError, RateLimited, TooLarge, says_try_again
from firebreak.limits import Limits
from firebreak.service.accounts import Accounts
from firebreak.service.hub import SLOW_CONSUMER
from firebreak.service.messages import Messages
from firebreak.service.rooms import Rooms
from firebreak.wire.commands import (
    EARLIER_SEND_FAILED,
    Command,
    SendCommand,
    decode_command,
    error_ack,
    ok_ack,
    ref_of,
)
from firebreak.wire.frames import error_frame
from firebreak.wire.views import SendResult

log = logging.getLogger(__name__)

#: Answers that may wait for a socket, per command the connection may have in flight. Well above
#: what one read of a client that does read can bring (a burst of refusals answered while the socket
#: is paused for a moment), small in memory (~150 bytes each).
UNANSWERED_PER_COMMAND = 10
#: How long a room's held sends (domain/send_order.py) wait for the refused ones to come again
#: without any of them coming: a client that gave up on one (its deadline passed) is not held for
#: good. Well above the client library's waits (a 429's ``retry_after_s``, a backoff up to 1 s, an
#: HTTP send after a 503 reaching this DC's read model).
HOLD_LAPSE_S = 30.0

WriteFrame = Callable[[bytes], Awaitable[None]]
WriteFrameNow = Callable[[bytes], bool]


class EndsSession(Protocol):
    """The socket's session (service/sessions.py's LiveSession), which a connection ends when it
    gives up on the client."""

    def end(self, reason: str) -> None: ...


class CommandMetrics(Protocol):
    """What commands count (adapters/metrics.py's GatewayMetrics), as the HTTP lane does."""

    def sent(self, duplicate: bool, started: float) -> None: ...
    def send_failed(self, code: str) -> None: ...
    def refused(self, code: str) -> None: ...


class LiveCommands:
    """The gateway's command path for live WebSockets; :meth:`connection` makes one per socket."""

    def __init__(
        self,
        *,
        accounts: Accounts,
        rooms: Rooms,
        messages: Messages,
        refusal: Callable[[bool], FirebreakError | None],
        limits: Limits,
        metrics: CommandMetrics,
        write_url: Callable[[str], str | None] = lambda room_id: None,
    ) -> None:
        """``refusal(writing)`` says why this DC takes no write now, if so (bootstrap.Gateway);
        ``write_url(room_id)`` is the write hint a send's ack carries, as the HTTP answer does."""
        self._accounts = accounts
        self._rooms = rooms
        self._messages = messages
        self._refusal = refusal
        self._max_bytes = limits.max_ws_frame_bytes
        self._max_in_flight = limits.ws_commands_in_flight
        self._metrics = metrics
        self._write_url = write_url

    def connection(
        self, token: str, write: WriteFrame, write_now: WriteFrameNow | None, session: EndsSession
    ) -> CommandConnection:
        """The commands of one socket authenticated with ``token``; acks go out with ``write_now``
        when the socket takes them at once, else with ``write``; ``session`` is ended if the
        client stops reading while it sends."""
        return CommandConnection(self, token, write, write_now, session)

    async def start(
        self, token: str, command: Command, started: float, order: SendOrder, arrival: int = 0
    ) -> Awaitable[bytes]:
        """Runs ``command`` until its place in the log is fixed (a send: checked and queued,
        service/messages.py's ``queue_send``; a read: done); the awaitable gives its ack frame, what
        its HTTP request would have answered. It must be awaited. ``order`` holds the connection's
        sends that were not taken; ``arrival`` is the command's number there."""
        try:
            refused = self._refusal(True)
            if refused is not None:
                raise refused
            me = self._accounts.authenticate(token).user_id
            if isinstance(command, SendCommand):
                sending = await self._messages.queue_send(
                    me, command.room_id, command.client_id, command.text, order=order, arrival=arrival
                )
                return self._sent(command, sending, started, order, arrival)
            read = await self._rooms.mark_read(me, command.room_id, command.up_to)
            return _ready(ok_ack(command.ref, 200, read))
        except Exception as exc:
            return _ready(self._failed(command, exc, order, arrival))

    async def _sent(
        self,
        command: SendCommand,
        sending: Awaitable[SendResult],
        started: float,
        order: SendOrder,
        arrival: int,
    ) -> bytes:
        try:
            sent = await sending
        except Exception as exc:
            return self._failed(command, exc, order, arrival)
        self._metrics.sent(sent.duplicate, started)
        return ok_ack(command.ref, 200 if sent.duplicate else 201, sent, self._write_url(command.room_id))

    def _failed(self, command: Command, exc: Exception, order: SendOrder, arrival: int) -> bytes:
        """The error ack; a send refused for now holds the room's later ones (a failed append was
        held already, when it failed), and one refused for good no longer holds anything."""
        if isinstance(command, SendCommand):
            if says_try_again(exc):
                order.refused(command.room_id, command.client_id, arrival)
            elif not (isinstance(exc, FirebreakError) and exc.code == EARLIER_SEND_FAILED):
                order.settled(command.room_id, command.client_id)
        if not isinstance(exc, FirebreakError):
            log.exception(
                "unhandled error in a %s command", "send" if isinstance(command, SendCommand) else "read"
            )
            return error_ack(command.ref, 500, "internal_error", "internal server error")
        if isinstance(command, SendCommand):
            self._metrics.send_failed(exc.code)
        return self.refuse(command.ref, exc)

    def refuse(self, ref: str | None, exc: FirebreakError) -> bytes:
        """The error ack for ``ref`` (an ``error`` frame when the frame named none)."""
        if exc.status == 429:
            self._metrics.refused(exc.code)
        if ref is None:
            return error_frame(exc.code, exc.message)
        wait = None if exc.retry_after_s is None else max(1, exc.retry_after_s)
        return error_ack(ref, exc.status, exc.code, exc.message, wait)

    def check(self, token: str, frame: str | bytes) -> Command:
        """The command in ``frame``, or a FirebreakError saying why there is none. A frame that is
        no command gets the error its HTTP request would have got first: the DC's refusal (503),
        the frame's size (413), the token (401), then what is wrong with it (400); a valid one is
        checked for the first and the third when it starts (:meth:`start`), as it runs."""
        size = len(frame) if isinstance(frame, bytes) else len(frame.encode())
        try:
            if size > self._max_bytes:
                raise TooLarge(f"command frames are at most {self._max_bytes} bytes", code="body_too_large")
            return decode_body(decode_command, frame, "command")
        except FirebreakError as wrong:
            refused = self._refusal(True)
            if refused is not None:
                raise refused from wrong
            if wrong.status != 413:
                self._accounts.authenticate(token)  # raises the 401
            raise

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight


class CommandConnection:
    """One socket's commands: a queue per room, run in order, acknowledged as each is done."""

    def __init__(
        self,
        commands: LiveCommands,
        token: str,
        write: WriteFrame,
        write_now: WriteFrameNow | None,
        session: EndsSession,
    ) -> None:
        self._commands = commands
        self._token = token
        self._write_frame = write
        self._write_now = write_now
        self._session = session
        #: Commands waiting or running (with their start time and arrival), per room; a room is here
        #: while its worker runs.
        self._rooms: dict[str, deque[tuple[Command, float, int]]] = {}
        self._in_flight = 0
        #: Answers the socket could not take at once, oldest first (one task writes them).
        self._unanswered: deque[bytes] = deque()
        self._workers: set[asyncio.Task[None]] = set()
        self._closed = False
        self._gave_up = False
        #: Arrivals, and the sends not taken, which hold their rooms' later ones.
        self._order = SendOrder(UNANSWERED_PER_COMMAND * commands.max_in_flight, HOLD_LAPSE_S, time.monotonic)

    def take(self, frame: str | bytes) -> None:
        """Queues the command in ``frame``, or answers at once why it cannot run."""
        if self._gave_up:
            return
        started = time.perf_counter()
        try:
            command = self._commands.check(self._token, frame)
        except FirebreakError as exc:
            self._answer_now(self._commands.refuse(ref_of(frame), exc))
            return
        arrival = self._order.arrive()
        if self._in_flight >= self._commands.max_in_flight:
            too_many = RateLimited(
                f"at most {self._commands.max_in_flight} commands unacknowledged per connection",
                code="too_many_commands",
                retry_after_s=1,
            )
            if isinstance(command, SendCommand):
                # Held by its arrival: the room's sends that came before it still go.
                self._order.refused(command.room_id, command.client_id, arrival)
            self._answer_now(self._commands.refuse(command.ref, too_many))
            return
        self._in_flight += 1
        queue = self._rooms.get(command.room_id)
        if queue is None:
            queue = self._rooms[command.room_id] = deque()
            self._spawn(self._work(command.room_id, queue))
        queue.append((command, started, arrival))

    async def _work(self, room_id: str, queue: deque[tuple[Command, float, int]]) -> None:
        """Starts ``room_id``'s commands in order, each once the one before has its place in the
        log; their appends and acks overlap."""
        try:
            while queue and not self._closed:
                command, started, arrival = queue.popleft()
                try:
                    answer = await self._commands.start(self._token, command, started, self._order, arrival)
                except BaseException:
                    self._in_flight -= 1
                    raise
                self._spawn(self._acknowledge(answer))
        finally:
            del self._rooms[room_id]

    async def _acknowledge(self, answer: Awaitable[bytes]) -> None:
        try:
            await self._write(await answer)
        finally:
            self._in_flight -= 1

    def _answer_now(self, frame: bytes) -> None:
        if not self._unanswered and self._write_now is not None and self._write_now(frame):
            return
        if len(self._unanswered) >= UNANSWERED_PER_COMMAND * self._commands.max_in_flight:
            # It sends and does not read: answering would hold memory for as long as it goes on.
            self._gave_up = True
            self._session.end(SLOW_CONSUMER)
            return
        self._unanswered.append(frame)
        if len(self._unanswered) == 1:
            self._spawn(self._answer_later())

    async def _answer_later(self) -> None:
        while self._unanswered and not self._closed:
            await self._write(self._unanswered[0])
            self._unanswered.popleft()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs ``work`` as a task this connection keeps until it ends."""
        worker = asyncio.create_task(work)
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _write(self, frame: bytes) -> None:
        if self._closed:
            return
        if self._write_now is not None and self._write_now(frame):
            return
        # The socket cannot take it now (paused, or no direct writes): wait for it, as event frames do.
        with contextlib.suppress(OSError, RuntimeError):
            await self._write_frame(frame)

    def close(self) -> None:
        """The socket is gone: drop what has not started; what runs finishes unacknowledged."""
        self._closed = True


async def _ready(frame: bytes) -> bytes:
    return frame
