"""What the person is told about the live connection, as a small state machine.

::

    CONNECTING --LIVE--> CONNECTED --BACKOFF--> RECONNECTING --LIVE--> CONNECTED
         |                                       ^     |
         +---------------BACKOFF-----------------+     +--CONNECTING to another DC: "failing over to dcN"
    any --CLOSED--> CLOSED

It sits on top of the client library's own machine (``client/live.py``), which retries every
DC in turn every second or so; this one turns that into a few lines: the loss, each DC tried once
per outage, the DC that answered. On CONNECTED it also moves the HTTP client to that DC, so
requests, ``/whoami`` and the status all name the DC actually in use.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from firebreak.client import Client, LiveConnection, LiveState


class Link(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class ConnectionStatus:
    def __init__(
        self, dc_names: list[str], client: Client, live: LiveConnection, say: Callable[[str], None]
    ) -> None:
        self._names = dc_names
        self._client = client
        self._live = live
        self._say = say
        self.link = Link.CONNECTING
        #: The DC of the live connection: the one connected to, or the one being tried.
        self.dc = live.current
        self._tried: set[int] = set()
        self._was_connected = False
        live.on_change(self.changed)

    def closing(self) -> None:
        """The chat is ending: the connection's close is expected, not news."""
        self.link = Link.CLOSED

    def changed(self, state: LiveState, dc: int) -> None:
        name = self._names[dc]
        if state is LiveState.LIVE:
            if self.link is not Link.CONNECTED:
                self._say(f"connected again, via {name}" if self._was_connected else f"connected via {name}")
            self.link, self.dc, self._was_connected = Link.CONNECTED, dc, True
            self._tried = {dc}
            self._client.move_to(dc)
        elif state is LiveState.BACKOFF:
            if self.link is Link.CONNECTED:
                self._say(f"lost the connection to {name}: reconnecting")
            elif self.link is Link.CONNECTING:
                self._say(f"{name} does not answer")
            self.link = Link.RECONNECTING
        elif state is LiveState.CONNECTING:
            self.dc = dc
            if self.link is Link.RECONNECTING and dc not in self._tried:
                self._tried.add(dc)
                self._say(f"failing over to {name} ...")
        elif state is LiveState.CLOSED and self.link is not Link.CLOSED:
            self.link = Link.CLOSED
            error = self._live.last_error
            self._say(f"the live connection has ended{f' ({error})' if error else ''}: restart the chat")

    def describe(self) -> str:
        """One line for ``/whoami``: the state and the DC in use for live events and for requests."""
        live = self._names[self.dc]
        requests = self._names[self._client.current]
        where = {
            Link.CONNECTING: f"connecting to {live}",
            Link.CONNECTED: f"connected via {live}",
            Link.RECONNECTING: f"reconnecting (trying {live})",
            Link.CLOSED: "disconnected",
        }[self.link]
        return where if requests == live else f"{where}; requests via {requests}"
