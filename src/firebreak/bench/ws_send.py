"""The bench's sends over the live WebSocket (``--send-over ws``): each sender writes ``send``
commands (wire/commands.py) on its own live socket and waits for their acks, instead of POSTing.
The acks arrive in the socket's ``on_text`` callback (bench/load.py), which hands them here."""

from __future__ import annotations

import asyncio

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
