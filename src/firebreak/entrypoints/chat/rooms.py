"""The chat's view of the user's rooms: stable numbers, titles, members' names.

A room gets a number the first time this chat sees it (the initial room list, newest activity
first, then each new room as it appears) and keeps it until the chat exits. ``/open 2`` therefore
always means the room that ``/rooms`` showed as 2, whatever has happened since; renumbering by
activity once sent a message to the wrong room.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firebreak.client import Client
from firebreak.wire.views import MemberView, RoomView


@dataclass
class Room:
    room_id: str
    number: int
    title: str
    kind: str
    unread: int = 0
    last: str = ""
    #: user_id -> member, as of the last time the chat asked (None: not asked yet, or stale).
    members: dict[str, MemberView] | None = field(default=None)


def title_of(view: RoomView) -> str:
    if view.peer is not None:
        return view.peer.display_name or view.peer.username
    return view.name


class NoSuchRoom(Exception):
    """``/open`` was given something that names no room; the message says what to do."""


class RoomBook:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._rooms: dict[str, Room] = {}
        self._numbered: list[Room] = []
        #: user_id -> display name, from every member list seen.
        self._people: dict[str, str] = {}

    def learn(self, view: RoomView) -> Room:
        room = self._rooms.get(view.room_id)
        if room is None:
            room = Room(view.room_id, len(self._numbered) + 1, title_of(view), view.kind)
            self._rooms[view.room_id] = room
            self._numbered.append(room)
        room.title = title_of(view)
        room.unread = view.unread
        if view.last_message is not None:
            room.last = view.last_message.text
        if view.peer is not None:
            self._people[view.peer.user_id] = room.title
        return room

    async def refresh(self) -> list[Room]:
        """Asks for the room list; returns every known room in number order."""
        for view in (await self._client.rooms()).rooms:
            self.learn(view)
        return list(self._numbered)

    async def get(self, room_id: str) -> Room:
        """The room, asking the server once if this chat has not seen it yet."""
        room = self._rooms.get(room_id)
        if room is None:
            room = self.learn((await self._client.room(room_id)).room)
        return room

    def known(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    async def members(self, room_id: str) -> list[MemberView]:
        room = await self.get(room_id)
        if room.members is None:
            detail = await self._client.room(room_id)
            room = self.learn(detail.room)
            room.members = {m.user_id: m for m in detail.members}
            for m in detail.members:
                self._people[m.user_id] = m.display_name or m.username
        return list(room.members.values())

    def members_changed(self, room_id: str) -> None:
        """Forgets a room's member list; the next question asks the server again."""
        room = self._rooms.get(room_id)
        if room is not None:
            room.members = None

    async def person(self, user_id: str, room_id: str) -> str:
        """A user's display name, learnt from the room's member list (user id if unknown)."""
        if user_id not in self._people:
            self.members_changed(room_id)
            await self.members(room_id)
        return self._people.get(user_id, user_id)

    def find(self, ref: str) -> Room:
        """The room a person means by ``ref``: its number, else its name (exact, then the only
        name that starts with it), ignoring case."""
        if not ref:
            raise NoSuchRoom("usage: /open NUMBER or /open NAME (/rooms lists them)")
        if ref.isdigit():
            n = int(ref)
            if 1 <= n <= len(self._numbered):
                return self._numbered[n - 1]
            span = f"1-{len(self._numbered)}" if self._numbered else "none yet"
            raise NoSuchRoom(f"no room number {n} (your rooms: {span}; /rooms lists them)")
        wanted = ref.casefold()
        exact = [r for r in self._numbered if r.title.casefold() == wanted]
        starts = [r for r in self._numbered if r.title.casefold().startswith(wanted)]
        for matches in (exact, starts):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                which = ", ".join(f"{r.number} {r.title}" for r in matches)
                raise NoSuchRoom(f"{ref!r} could be several rooms ({which}): use the number")
        raise NoSuchRoom(f"no room named {ref!r} (/rooms lists yours; /dm USER opens a 1:1 room)")
