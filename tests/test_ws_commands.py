"""A socket's command pipeline (entrypoints/gateway/ws_commands.py) against sends whose appends
finish when the test says: one room's sends are queued in the order they came, the next before
the one before is written (their appends overlap), and commands beyond the cap on commands in
flight are refused at once with ``too_many_commands``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast

import msgspec
import pytest

from firebreak.domain.send_order import SendOrder
from firebreak.entrypoints.gateway.ws_commands import UNANSWERED_PER_COMMAND, LiveCommands
from firebreak.errors import Conflict, Unauthorized, Unavailable
from firebreak.limits import Limits
from firebreak.service.accounts import Accounts
from firebreak.service.messages import Messages
from firebreak.service.rooms import Rooms
from firebreak.wire.commands import EARLIER_SEND_FAILED, SendCommand, decode_ack, encode_command
from firebreak.wire.views import MessageView, SendResult

ROOM = "g_" + "0" * 24


@dataclass
class _Identity:
    user_id: str


class _Accounts:
    def authenticate(self, token: str) -> _Identity:
        return _Identity("u_alice")


class _Messages:
    """Queues sends and finishes them only when ``finish`` is called."""

    def __init__(self) -> None:
        self.queued: list[str] = []
        self._appends: list[asyncio.Future[None]] = []

    async def queue_send(
        self,
        me: str,
        room_id: str,
        client_id: str,
        text: str,
        order: SendOrder | None = None,
        arrival: int = 0,
    ) -> Awaitable[SendResult]:
        # As Messages.queue_send: the connection's held sends keep the later ones back.
        if order is not None and not order.may_take(room_id, client_id, arrival, lambda _: False):
            raise Conflict("an earlier send was not taken", code=EARLIER_SEND_FAILED)
        self.queued.append(client_id)
        appended = asyncio.get_running_loop().create_future()
        self._appends.append(appended)
        return self._answer(appended, room_id, client_id, len(self.queued))

    async def _answer(
        self, appended: asyncio.Future[None], room_id: str, client_id: str, n: int
    ) -> SendResult:
        await appended
        view = MessageView(room_id=room_id, room_seq=n, sender="u_alice", client_id=client_id, text="hi",
                           at=0, unread=1, p=0, seq=n)  # fmt: skip
        return SendResult(message=view, duplicate=False)

    def finish(self) -> None:
        for appended in self._appends:
            if not appended.done():
                appended.set_result(None)


class _Metrics:
    def sent(self, duplicate: bool, started: float) -> None:
        pass

    def send_failed(self, code: str) -> None:
        pass

    def refused(self, code: str) -> None:
        pass


class _Session:
    def __init__(self) -> None:
        self.ended: list[str] = []

    def end(self, reason: str) -> None:
        self.ended.append(reason)


class _LoggedOut:
    def authenticate(self, token: str) -> _Identity:
        raise Unauthorized("this session has been logged out", code="session_revoked")


_DRAINING = Unavailable("dc1 is draining", code="dc_draining", retry_after_s=3)


def _commands(messages: _Messages, *, logged_out: bool = False, draining: bool = False) -> LiveCommands:
    """The command path with the default limits, over ``messages``."""
    return LiveCommands(
        accounts=cast(Accounts, _LoggedOut() if logged_out else _Accounts()),
        rooms=cast(Rooms, None),
        messages=cast(Messages, messages),
        refusal=lambda writing: _DRAINING if draining else None,
        limits=Limits(),
        metrics=_Metrics(),
    )


async def _until(condition: object, what: str) -> None:
    for _ in range(1000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(what)


async def test_one_rooms_sends_overlap_in_order_and_the_cap_refuses_the_rest() -> None:
    limits = Limits()
    cap = limits.ws_commands_in_flight
    messages = _Messages()
    commands = _commands(messages)
    written: list[bytes] = []

    async def write(frame: bytes) -> None:
        written.append(frame)

    connection = commands.connection("token", write, None, _Session())
    n = cap + 20
    for i in range(n):
        connection.take(encode_command(SendCommand(ref=f"r{i}", room_id=ROOM, client_id=f"c{i}", text="hi")))

    await _until(lambda: len(messages.queued) == cap and len(written) == 20, "every admitted send queued")
    assert messages.queued == [f"c{i}" for i in range(cap)], "queued in the order sent, none written yet"
    refused = [decode_ack(frame) for frame in written]
    assert {(a.ref, a.status, a.code) for a in refused} == {
        (f"r{i}", 429, "too_many_commands") for i in range(cap, n)
    }

    messages.finish()
    await _until(lambda: len(written) == n, "every queued send acknowledged")
    acks = [msgspec.json.decode(frame) for frame in written[20:]]
    assert sorted(a["ref"] for a in acks) == sorted(f"r{i}" for i in range(cap))
    assert all(a["status"] == 201 for a in acks)


async def test_a_send_refused_on_arrival_holds_the_rooms_later_sends_not_the_earlier() -> None:
    """The cap refuses c100-c102 while c0-c99 still wait to start: those are taken, and the
    room's sends after the refused ones are taken only once these come again, oldest first."""
    cap = Limits().ws_commands_in_flight
    messages = _Messages()
    written: list[bytes] = []

    async def write(frame: bytes) -> None:
        written.append(frame)

    def take(ref: str, client_id: str) -> None:
        connection.take(encode_command(SendCommand(ref=ref, room_id=ROOM, client_id=client_id, text="hi")))

    connection = _commands(messages).connection("token", write, None, _Session())
    for i in range(cap + 3):
        take(f"r{i}", f"c{i}")
    await _until(lambda: len(messages.queued) == cap and len(written) == 3, "the first cap queued")
    messages.finish()
    await _until(lambda: len(written) == cap + 3, "every queued send acknowledged")
    assert messages.queued == [f"c{i}" for i in range(cap)], "the ones ahead of the refused are taken"

    def answers() -> dict[str, tuple[int, str | None]]:
        return {ack.ref: (ack.status, ack.code) for ack in map(decode_ack, written)}

    take("new", f"c{cap + 3}")
    take("again-101", f"c{cap + 1}")
    await _until(lambda: len(written) == cap + 5, "both answered")
    held = (409, EARLIER_SEND_FAILED)
    assert answers()["new"] == held, "a new send waits for the refused ones"
    assert answers()["again-101"] == held, "a refused one waits for the older refused ones"
    for k in (cap, cap + 1, cap + 2, cap + 3):
        take(f"again-{k}", f"c{k}")
        await _until(lambda k=k: len(messages.queued) == k + 1, f"c{k} taken")
        messages.finish()
    await _until(lambda: len(written) == cap + 9, "the resends acknowledged")
    assert messages.queued[cap:] == [f"c{k}" for k in range(cap, cap + 4)], "taken in the order first sent"


async def test_a_client_that_sends_and_does_not_read_is_given_up_on() -> None:
    """Refusals the socket cannot take at once are written one at a time, in order; once ten times
    the cap's worth of them wait, the session is ended as a slow consumer and later frames are
    ignored."""
    limits = Limits()
    cap = UNANSWERED_PER_COMMAND * limits.ws_commands_in_flight
    messages = _Messages()
    commands = _commands(messages)
    drained = asyncio.get_running_loop().create_future()
    writing: list[bytes] = []
    written: list[bytes] = []

    async def write(frame: bytes) -> None:  # the socket takes nothing until ``drained``
        writing.append(frame)
        assert len(writing) - len(written) == 1, "one answer written at a time"
        await drained
        written.append(frame)

    session = _Session()
    connection = commands.connection("token", write, lambda frame: False, session)
    for i in range(cap * 3):
        connection.take(b'{"kind": "send", "ref": "r%d"}' % i)
    await _until(lambda: len(writing) == 1, "the first refusal being written")
    assert session.ended == ["slow_consumer"], "given up on once, when the cap's worth waited"

    connection.take(encode_command(SendCommand(ref="late", room_id=ROOM, client_id="c", text="hi")))
    drained.set_result(None)
    await _until(lambda: len(written) == cap, "the refusals that waited written")
    assert len(writing) == cap, "the refusals past the cap dropped"
    assert [decode_ack(frame).ref for frame in written] == [f"r{i}" for i in range(cap)]
    assert messages.queued == [], "nothing started after giving up"


class _Frames:
    """A socket that takes every frame at once."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    async def write(self, frame: bytes) -> None:
        self.written.append(frame)

    def write_now(self, frame: bytes) -> bool:
        self.written.append(frame)
        return True


_NO_COMMAND = b'{"kind": "send", "ref": "r"}'
_OVERSIZED = b'{"kind": "send", "ref": "r", "text": "%s"}' % (b"x" * Limits().max_ws_frame_bytes)


@pytest.mark.parametrize(
    ("draining", "logged_out", "frame", "expected"),
    [
        (False, False, _NO_COMMAND, (400, "malformed_request")),
        (False, True, _NO_COMMAND, (401, "session_revoked")),
        (False, True, _OVERSIZED, (413, "body_too_large")),
        (True, True, _OVERSIZED, (503, "dc_draining")),
    ],
)
async def test_a_frame_that_is_no_command_gets_the_error_its_request_would_get_first(
    draining: bool, logged_out: bool, frame: bytes, expected: tuple[int, str]
) -> None:
    """HTTP answers the DC's refusal (503), then the body's size (413), then the token (401),
    then the body (400); a frame on the socket is answered in the same order."""
    commands = _commands(_Messages(), logged_out=logged_out, draining=draining)
    socket = _Frames()
    commands.connection("token", socket.write, socket.write_now, _Session()).take(frame)
    ack = decode_ack(socket.written[0])
    assert (ack.status, ack.code) == expected
