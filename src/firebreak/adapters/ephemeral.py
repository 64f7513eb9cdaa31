"""Core NATS pub/sub for what is not kept: typing and presence notes (domain/presence.py).

Core subjects, not JetStream: a note goes to every gateway subscribed at that moment, through the
cluster's routes (one copy per DC), and is never stored or replayed. A gateway not connected then
misses it; the rules are built for that (typing expires; presence notes are numbered, and a
process that misses one asks for a list: domain/presence_board.py).

Subjects (the gateway user may use them; the ops user may not: adapters/nats_server_conf.py):

- ``eph.typing``: :class:`TypingNote`, one per accepted ``POST /v1/rooms/{id}/typing``;
- ``eph.presence.<label>``: a gateway process's :class:`PresenceNote` (its pulses, lists for all,
  and its users' first and last sockets) and :class:`PresenceAsk` (lists it asks of others);
- ``eph.presence.to.<label>``: a list for that process only, which asked for it.

A process publishes on one connection and hears on one, and NATS keeps one connection's
messages in order, so each source's notes arrive in the order it sent them; what a reconnect
loses shows as a gap in their numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from firebreak.domain.presence import PresenceAsk, PresenceNote, TypingNote

TYPING_SUBJECT = "eph.typing"
PRESENCE_PREFIX = "eph.presence."
PRESENCE_TO_PREFIX = "eph.presence.to."

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TypingNote | PresenceNote | PresenceAsk)


class CoreLink:
    """Publishes notes and hands the ones received (this gateway's own included) to callbacks;
    ``label``: this gateway process's, for the lists sent to it alone."""

    def __init__(self, nc: NATS, label: str) -> None:
        self._nc = nc
        self._label = label

    async def publish(self, note: TypingNote | PresenceNote | PresenceAsk) -> None:
        if isinstance(note, TypingNote):
            subject = TYPING_SUBJECT
        elif isinstance(note, PresenceAsk):
            subject = PRESENCE_PREFIX + note.asker
        else:
            subject = PRESENCE_TO_PREFIX + note.to if note.to else PRESENCE_PREFIX + note.source
        await self._nc.publish(subject, _encoder.encode(note))

    async def subscribe(
        self,
        on_typing: Callable[[TypingNote], None],
        on_presence: Callable[[PresenceNote | PresenceAsk], None],
    ) -> None:
        async def received(msg: Msg) -> None:
            try:
                note = _decoder.decode(msg.data)
            except msgspec.DecodeError:
                # Another version's note: skipped, never a reason to stop listening.
                log.warning("ignored an undecodable note on %s", msg.subject)
                return
            if isinstance(note, TypingNote):
                on_typing(note)
            else:
                on_presence(note)

        await self._nc.subscribe(TYPING_SUBJECT, cb=received)
        await self._nc.subscribe(PRESENCE_PREFIX + "*", cb=received)
        await self._nc.subscribe(PRESENCE_TO_PREFIX + self._label, cb=received)
