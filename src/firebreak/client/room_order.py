"""The order of one caller's sends to a room across the live socket and HTTP: the log stores
them in the order they were given, whichever way each one goes.

The socket keeps a room's commands in order by itself (client/live_sends.py, the gateway's
per-room queue), and a command given while its connection is down waits for the next one in
that order. HTTP requests in flight at once keep none. So every send takes its :class:`Place` in
its room when it is given, and:

- it may take the socket only while every earlier send of the room is on the socket too;
- once one goes over HTTP (an attachment, a 502/503/504 ack, the connection gone for too long or
  for good), it waits until every earlier send of the room is answered, and every later one goes
  over HTTP behind it;
- a place is left when its send is answered (or fails), which lets the next one go.

States of a place: *given* (the caller has not chosen), *socket* (its command is with
LiveSends), *http* (over HTTP, or waiting for its turn to be), then left. A place moves from
socket to http at the moment LiveSends hands its command back, before its caller runs again, so
that a send given in between cannot take the socket ahead of it.
"""

from __future__ import annotations

import asyncio


class Place:
    """One send's place in its room's order."""

    __slots__ = ("_turn", "http", "room_id")

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        #: Goes (or waits to go) over HTTP; later sends of the room may no longer take the socket.
        self.http = False
        self._turn: asyncio.Future[None] | None = None

    def to_http(self) -> None:
        """Its command was handed back by LiveSends: it will go over HTTP."""
        self.http = True


class RoomOrder:
    """Each room's sends in the order given (see the module's docstring)."""

    def __init__(self) -> None:
        self._rooms: dict[str, list[Place]] = {}

    def join(self, room_id: str) -> Place:
        """The place of a send given now: behind every send of the room not yet answered."""
        place = Place(room_id)
        self._rooms.setdefault(room_id, []).append(place)
        return place

    def may_take_socket(self, place: Place) -> bool:
        """Whether every earlier send of the room is on the socket (or there is none)."""
        for earlier in self._rooms[place.room_id]:
            if earlier is place:
                return True
            if earlier.http:
                return False
        raise AssertionError("a place left before it was used")

    def follows_socket(self, place: Place) -> bool:
        """Whether an earlier send of the room waits on the socket: then this one may wait for the
        same connection behind it, instead of going over HTTP."""
        return self._rooms[place.room_id][0] is not place

    async def http_turn(self, place: Place) -> None:
        """Marks ``place`` as going over HTTP and waits until every earlier send of the room is
        answered."""
        place.http = True
        line = self._rooms[place.room_id]
        if line[0] is not place:
            place._turn = asyncio.get_running_loop().create_future()
            await place._turn

    def leave(self, place: Place) -> None:
        """The send is answered (or failed, or its caller gave up): the next one may go."""
        line = self._rooms[place.room_id]
        first = line[0] is place
        line.remove(place)
        if not line:
            del self._rooms[place.room_id]
        elif first:
            turn = line[0]._turn
            if turn is not None and not turn.done():
                turn.set_result(None)

    def busy(self, room_id: str) -> bool:
        """Whether the room has sends not yet answered."""
        return room_id in self._rooms
