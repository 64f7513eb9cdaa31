"""The live side of the client: one WebSocket, resumed from its cursor on any DC.

State machine::

    CONNECTING --open--> CATCHING_UP --"ready"--> LIVE
        ^                    |                     |
        |                    +------ lost ---------+--> BACKOFF --(next DC)--> CONNECTING
        +-----------------------------------------------------+
    any state --close() or auth refused--> CLOSED

Every event frame carries the cursor just past it; the connection keeps the newest one, so after a
loss it reconnects (to the next DC in its list) with that cursor and receives exactly what it
missed. Cursors mean the same in every DC, so which DC it lands on does not matter.
The socket also carries commands (sends, mark-reads) the other way: client/live_sends.py writes
them on :attr:`LiveConnection.ws` and hears their ``ack`` frames through :meth:`LiveConnection.on_ack`.
Listeners added with :meth:`LiveConnection.on_change` hear each state with the index of the DC
it concerns (BACKOFF names the DC just lost, CONNECTING the one tried next).

Typing and presence frames (ephemeral, no cursor) update :attr:`LiveConnection.online` and what
:meth:`LiveConnection.typing_in` answers, and go to :attr:`LiveConnection.notes`. A typing note
shows for its ``ttl_ms`` from receipt, until a ``typing: false`` note, or until the typer's next
message arrives.
"""

from __future__ import annotations

import asyncio
import enum
import time
import urllib.parse
from collections.abc import Callable

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection, connect

from firebreak.domain.events import MessageSent
from firebreak.domain.model import ClientEvent
from firebreak.retry import Backoff
from firebreak.tasks import stop_all
from firebreak.wire.frames import ClientFrame
from firebreak.wire.presence_views import PresenceView, TypingView

#: The heartbeat interval this client asks for: it pings the server itself (every 2 s, below) to
#: tell a silent DC, so the server's ``heartbeat`` frames, which a browser needs, would only cost
#: the gateway a write per socket every 5 s (the server keeps the interval within its bounds).
HEARTBEAT_S = 60


class LiveState(enum.Enum):
    CONNECTING = "connecting"
    CATCHING_UP = "catching_up"
    LIVE = "live"
    BACKOFF = "backoff"
    CLOSED = "closed"


_decoder = msgspec.json.Decoder(ClientFrame)
_FATAL_CODES = {"invalid_token", "token_expired", "session_revoked", "missing_token", "invalid_cursor"}


class LiveConnection:
    def __init__(
        self,
        ws_urls: list[str],
        token: Callable[[], str | None],
        *,
        preferred: int = 0,
        cursor: str | None = None,
        max_backoff: float = 1.0,
    ) -> None:
        self.ws_urls = list(ws_urls)
        self.current = preferred % len(ws_urls)
        self._token = token
        self.cursor = cursor
        self.state = LiveState.CONNECTING
        #: Every event received, in order (per partition: log order).
        self.events: asyncio.Queue[ClientEvent] = asyncio.Queue()
        #: Every typing note and presence change received, in order.
        self.notes: asyncio.Queue[TypingView | PresenceView] = asyncio.Queue()
        #: The presence last heard of each user (from ``presence`` frames).
        self.online: dict[str, PresenceView] = {}
        #: (room_id, user_id) -> when (time.monotonic()) their typing note runs out.
        self._typing: dict[tuple[str, str], float] = {}
        #: Set while LIVE; cleared on loss.
        self.live = asyncio.Event()
        self.reconnects = 0
        self.last_error: str | None = None
        self.state_changes: list[tuple[float, LiveState, str]] = []
        # Reconnect delays grow to max_backoff and start over once a connection is live again.
        self._backoff = Backoff(first_s=0.05, max_s=max_backoff)
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[LiveState, int], None]] = []
        self._ack_listeners: list[Callable[[bytes | str], None]] = []
        #: The open socket, while there is one (commands are written on it).
        self.ws: ClientConnection | None = None

    def on_change(self, listener: Callable[[LiveState, int], None]) -> None:
        """Calls ``listener(state, dc_index)`` on every state change, in the connection's task."""
        self._listeners.append(listener)

    def on_ack(self, listener: Callable[[bytes | str], None]) -> None:
        """Calls ``listener(frame)`` with every ``ack`` frame (wire/commands.py), in the connection's task."""
        self._ack_listeners.append(listener)

    def _set(self, state: LiveState) -> None:
        self.state = state
        self.state_changes.append((time.monotonic(), state, self.ws_urls[self.current]))
        if state is LiveState.LIVE:
            self.live.set()
        else:
            self.live.clear()
        for listener in self._listeners:
            listener(state, self.current)

    def typing_in(self, room_id: str) -> list[str]:
        """Who is typing in ``room_id`` now, as the notes received say."""
        now = time.monotonic()
        for key in [k for k, until in self._typing.items() if until <= now]:
            del self._typing[key]
        return sorted(user for room, user in self._typing if room == room_id)

    def _noted(self, note: TypingView | PresenceView) -> None:
        if isinstance(note, TypingView):
            key = (note.room_id, note.user_id)
            if note.typing:
                self._typing[key] = time.monotonic() + note.ttl_ms / 1000
            else:
                self._typing.pop(key, None)
        else:
            self.online[note.user_id] = note
        self.notes.put_nowait(note)

    def _event(self, item: ClientEvent) -> None:
        event = item.event
        if isinstance(event, MessageSent):
            self._typing.pop((event.room_id, event.sender), None)
        self.events.put_nowait(item)

    def start(self) -> LiveConnection:
        self._task = asyncio.create_task(self.run(), name="live-connection")
        return self

    async def close(self) -> None:
        if self._task is not None:
            await stop_all([self._task])
        self._set(LiveState.CLOSED)

    def _url(self) -> str:
        query = {"token": self._token() or "", "heartbeat_s": str(HEARTBEAT_S)}
        if self.cursor:
            query["cursor"] = self.cursor
        return f"{self.ws_urls[self.current]}?{urllib.parse.urlencode(query)}"

    async def run(self) -> None:
        delays = self._backoff.delays()
        while True:
            self._set(LiveState.CONNECTING)
            try:
                async with connect(
                    self._url(), open_timeout=3, ping_interval=2, ping_timeout=3, max_size=2**22
                ) as ws:
                    self.ws = ws
                    self._set(LiveState.CATCHING_UP)
                    async for raw in ws:
                        frame = _decoder.decode(raw)
                        if frame.kind == "ack":
                            for listener in self._ack_listeners:
                                listener(raw)
                            continue
                        if frame.kind in ("event", "events") and frame.data is not None:
                            self.cursor = frame.cursor
                            for event in frame.data if isinstance(frame.data, list) else [frame.data]:
                                self._event(event)
                        elif frame.kind == "ready":
                            self.cursor = frame.cursor
                            self._set(LiveState.LIVE)
                            delays = self._backoff.delays()
                        elif frame.kind == "typing" and frame.typing is not None:
                            self._noted(frame.typing)
                        elif frame.kind == "presence" and frame.presence is not None:
                            for change in frame.presence:
                                self._noted(change)
                        elif frame.kind == "error":
                            self.last_error = f"{frame.code}: {frame.message}"
                            if frame.code in _FATAL_CODES:
                                self._set(LiveState.CLOSED)
                                return
            except asyncio.CancelledError:
                raise
            except (
                OSError,
                websockets.exceptions.WebSocketException,
                TimeoutError,
                msgspec.DecodeError,
            ) as exc:
                self.last_error = repr(exc)
            finally:
                self.ws = None
            # Lost (or never reached) this DC: try the next one with the same cursor.
            self._set(LiveState.BACKOFF)
            self.reconnects += 1
            self.current = (self.current + 1) % len(self.ws_urls)
            await asyncio.sleep(next(delays))
