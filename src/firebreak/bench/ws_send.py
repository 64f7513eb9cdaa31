"""The bench's sends over the live WebSocket (``--send-over ws``): each sender writes ``send``
commands (wire/commands.py) on its own live socket and waits for their acks, instead of POSTing.
The acks arrive in the socket's ``on_text`` callback (bench/load.py), which hands them here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from firebreak.bench.wire import WireWebSocket
from firebreak.wire.commands import SendCommand, encode_command


class AckWaiter:
    """Matches ack frames to the sends waiting for them, by ``ref`` (the bench uses the client id)."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[int]] = {}

    def heard(self, ref: str, status: int) -> None:
        waiting = self._waiting.pop(ref, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(status)

    def send_nowait(
        self, sock: WireWebSocket, room_id: str, client_id: str, text: str
    ) -> asyncio.Future[int]:
        """Sends one message on ``sock``; the future gives the ack's status."""
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[client_id] = answer
        sock.send_texts(
            encode_command(SendCommand(ref=client_id, room_id=room_id, client_id=client_id, text=text))
        )
        return answer

    def forget(self, client_id: str) -> None:
        self._waiting.pop(client_id, None)

    async def send(self, sock: WireWebSocket, room_id: str, client_id: str, text: str) -> int:
        """Sends one message on ``sock``; returns the ack's status."""
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[client_id] = answer
        command = SendCommand(ref=client_id, room_id=room_id, client_id=client_id, text=text)
        sock.send_texts(encode_command(command))
        lost = asyncio.ensure_future(asyncio.shield(sock.closed))
        try:
            done, _ = await asyncio.wait({answer, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if answer not in done:
            self._waiting.pop(client_id, None)
            raise ConnectionError(f"the sender's socket closed ({sock.closed.result()})")
        return answer.result()


#: How long a pipelined sender waits for its last acks after its time is up.
_DRAIN_S = 15.0


async def send_pipelined(
    waiter: AckWaiter,
    sock: WireWebSocket,
    room_id: str,
    window: int,
    next_send: Callable[[], tuple[str, str] | None],
    answered: Callable[[str, int], None],
    until: float,
) -> None:
    """Keeps up to ``window`` sends in flight on ``sock`` until ``next_send`` says no more (None)
    or ``until`` (perf_counter) passes; each send is the (client id, text) ``next_send`` gives;
    ``answered(client_id, status)`` hears each ack, status 0 for a send whose ack never came (the
    socket closed, or none within _DRAIN_S at the end)."""
    slots = asyncio.Semaphore(window)
    in_flight: dict[asyncio.Future[int], str] = {}

    def heard(answer: asyncio.Future[int]) -> None:
        slots.release()
        cid = in_flight.pop(answer, None)
        if cid is not None:
            answered(cid, 0 if answer.cancelled() else answer.result())

    while not sock.closed.done():
        left = until - time.perf_counter()
        if left <= 0:
            break
        try:
            await asyncio.wait_for(slots.acquire(), left)
        except TimeoutError:
            break
        send = next_send()
        if send is None or sock.closed.done():
            break
        cid, text = send
        answer = waiter.send_nowait(sock, room_id, cid, text)
        in_flight[answer] = cid
        answer.add_done_callback(heard)
    drained_by = time.perf_counter() + _DRAIN_S
    while in_flight and not sock.closed.done() and (left := drained_by - time.perf_counter()) > 0:
        await asyncio.wait([*in_flight, sock.closed], timeout=left, return_when=asyncio.FIRST_COMPLETED)
    for answer, cid in list(in_flight.items()):
        del in_flight[answer]
        waiter.forget(cid)
        answered(cid, 0)
