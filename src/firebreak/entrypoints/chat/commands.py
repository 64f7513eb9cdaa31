"""The chat's commands and what a typed line does.

A line that does not start with ``/`` goes to the current room through the outbox. The current
room is the one last opened (``/open``, ``/dm``, ``/group``) or, when a message from someone else
arrives, that message's room, so a reply goes where the person expects; each such switch is
announced, and every line names its room (``incoming.py``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from firebreak.client import Client
from firebreak.errors import FirebreakError
from firebreak.tasks import cancel_all, failures

from . import attachments
from .outbox import Outbox
from .rooms import NoSuchRoom, Room, RoomBook
from .screen import Screen, clock
from .status import ConnectionStatus

HELP = """commands:
  /rooms                 your rooms with their numbers (they never change) and unread counts
  /open N | NAME         switch to a room by its number or name; marks it read
  /dm USER               open the 1:1 room with USER and switch to it
  /group NAME USER,...   create a group room and switch to it
  /members               who is in the current room, online or last seen, and how far each has read
  /history [N]           the last N (default 20) messages of the current room
  /edit N TEXT           replace the text of your message #N in the current room
  /delete N              delete your message #N in the current room for everyone
  /search WORDS          find messages with all these words in your rooms
  /attach PATH           send a file (a photo gets a thumbnail) to the current room
  /save FILE_ID [DIR]    download a file shown in a message (to DIR, default here)
  /read                  mark the current room read
  /invite USER,...       add people to the current group
  /rename NAME           rename the current group
  /leave                 leave the current group
  /whoami                your account, the DC in use and the connection state
  /quit                  (or Ctrl-C, or Ctrl-D)
anything else is sent to the current room; a message from someone else makes its room current,
so a reply goes back there. Your messages show (pending) until the log has them, then ✓."""

USAGE = {
    "/dm": "usage: /dm USER",
    "/group": "usage: /group NAME USER,USER,...",
    "/invite": "usage: /invite USER,USER,...",
    "/rename": "usage: /rename NAME",
    "/edit": "usage: /edit N TEXT (N: the message's #number)",
    "/delete": "usage: /delete N (N: the message's #number)",
    "/search": "usage: /search WORDS",
    "/attach": "usage: /attach PATH",
    "/save": "usage: /save FILE_ID [DIR]",
}
NEEDS_ROOM = {"/members", "/history", "/read", "/invite", "/rename", "/leave", "/edit", "/delete", "/attach"}


def person(username: str, display_name: str) -> str:
    return username if display_name in ("", username) else f"{display_name} ({username})"


class Chat:
    def __init__(
        self, client: Client, book: RoomBook, outbox: Outbox, screen: Screen, status: ConnectionStatus
    ) -> None:
        self.client = client
        self.book = book
        self.outbox = outbox
        self.screen = screen
        self.status = status
        self.room: Room | None = None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def me(self) -> str:
        return self.client.user.user_id if self.client.user else ""

    def switch(self, room: Room, why: str) -> None:
        self.room = room
        self.screen.notice(f"{why} {room.number} {room.title}")

    def in_background(self, work: Awaitable[None], what: str) -> None:
        """Runs a write that the person need not wait for (marking read) without blocking input;
        with no quorum it can take many seconds."""

        async def run() -> None:
            try:
                await work
            except FirebreakError as exc:
                self.screen.notice(f"could not {what}: {exc.message} ({exc.code})")

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def mark_read(self, room: Room) -> None:
        newest = (await self.client.history(room.room_id, limit=1)).messages
        if newest:
            await self.client.mark_read(room.room_id, newest[-1].room_seq)
        room.unread = 0

    async def open(self, room: Room, why: str = "now in room") -> None:
        self.switch(room, why)
        await self.show_history(room, 5)
        self.in_background(self.mark_read(room), f"mark {room.title} read")

    async def show_history(self, room: Room, limit: int) -> None:
        for m in (await self.client.history(room.room_id, limit=limit)).messages:
            who = "me" if m.sender == self.me else await self.book.person(m.sender, room.room_id)
            text = "(deleted)" if m.deleted else m.text + (" (edited)" if m.edited_at else "")
            text += await attachments.describe(self.client, m.attachments)
            reactions = "".join(f" {r.emoji}{r.count}" for r in m.reactions)
            self.screen.line(f"  #{m.room_seq} {clock(m.at)} {who}: {text}  ({m.unread} unread){reactions}")

    async def handle(self, line: str) -> bool:
        """Handles one typed line; returns False to quit."""
        if not line.startswith("/"):
            if self.room is None:
                self.screen.notice("no room yet: /dm USER, /group NAME USERS or /open N first")
            else:
                self.outbox.add(self.room.room_id, self.room.title, line)
            return True
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        if cmd == "/quit":
            return False
        handler = self._handlers().get(cmd)
        if handler is None:
            self.screen.notice(f"unknown command {cmd}; /help lists them")
        elif cmd in USAGE and not arg:
            self.screen.notice(USAGE[cmd])
        elif cmd in NEEDS_ROOM and self.room is None:
            self.screen.notice("no current room: /open N, /dm USER or /group NAME USERS first")
        else:
            await handler(arg)
        return True

    def _handlers(self) -> dict[str, Callable[[str], Awaitable[None]]]:
        return {
            "/help": self._help,
            "/whoami": self._whoami,
            "/rooms": self._rooms,
            "/open": self._open,
            "/dm": self._dm,
            "/group": self._group,
            "/members": self._members,
            "/history": self._history,
            "/read": self._read,
            "/invite": self._invite,
            "/rename": self._rename,
            "/leave": self._leave,
            "/edit": self._edit,
            "/delete": self._delete,
            "/search": self._search,
            "/attach": functools.partial(attachments.attach, self),
            "/save": functools.partial(attachments.save, self),
        }

    async def _help(self, arg: str) -> None:
        self.screen.line(HELP)

    async def _whoami(self, arg: str) -> None:
        user = self.client.user
        who = person(user.username, user.display_name) if user else "?"
        pending = f"; {self.outbox.waiting} message(s) pending" if self.outbox.waiting else ""
        self.screen.notice(f"{who}: {self.status.describe()}{pending}")

    async def _rooms(self, arg: str) -> None:
        rooms = await self.book.refresh()
        if not rooms:
            self.screen.notice("no rooms yet: /dm USER or /group NAME USERS")
        for r in rooms:
            here = "*" if self.room is r else " "
            unread = f"{r.unread} unread" if r.unread else ""
            self.screen.line(f"{r.number:3}{here} {r.title:20} {unread:10} {r.last[:40]}")

    async def _open(self, arg: str) -> None:
        try:
            room = self.book.find(arg)
        except NoSuchRoom as exc:
            self.screen.notice(str(exc))
            return
        await self.open(room)

    async def _dm(self, arg: str) -> None:
        room = self.book.learn(await self.client.open_direct(arg))
        await self.open(room, "now chatting with")

    async def _group(self, arg: str) -> None:
        name, _, people = arg.partition(" ")
        members = [m for m in people.replace(" ", "").split(",") if m]
        room = self.book.learn(await self.client.create_group(name, members))
        self.switch(room, "created the group, now in room")

    async def _members(self, arg: str) -> None:
        assert self.room is not None
        presence = {p.user_id: p for p in (await self.client.presence(self.room.room_id)).members}
        for m in sorted(await self.book.members(self.room.room_id), key=lambda m: m.username):
            you = " (you)" if m.user_id == self.me else ""
            now = presence.get(m.user_id)
            state = "online" if now is not None and now.online else "offline"
            if now is not None and not now.online and now.last_seen is not None:
                state = f"last seen {clock(now.last_seen)}"
            name = person(m.username, m.display_name)
            self.screen.line(f"  {name}{you}  {state}, read up to #{m.read_room_seq}")

    async def _history(self, arg: str) -> None:
        assert self.room is not None
        await self.show_history(self.room, int(arg) if arg.isdigit() else 20)

    async def _read(self, arg: str) -> None:
        assert self.room is not None
        await self.mark_read(self.room)

    async def _invite(self, arg: str) -> None:
        assert self.room is not None
        await self.client.invite(self.room.room_id, [m for m in arg.replace(" ", "").split(",") if m])

    async def _rename(self, arg: str) -> None:
        assert self.room is not None
        await self.client.rename(self.room.room_id, arg)

    async def _leave(self, arg: str) -> None:
        assert self.room is not None
        await self.client.leave(self.room.room_id)
        self.screen.notice(f"you left {self.room.title}; no current room")
        self.room = None

    async def _edit(self, arg: str) -> None:
        assert self.room is not None
        number, _, text = arg.partition(" ")
        if not number.lstrip("#").isdigit() or not text.strip():
            self.screen.notice(USAGE["/edit"])
            return
        await self.client.edit_message(self.room.room_id, int(number.lstrip("#")), text.strip())

    async def _delete(self, arg: str) -> None:
        assert self.room is not None
        if not arg.lstrip("#").isdigit():
            self.screen.notice(USAGE["/delete"])
            return
        await self.client.delete_message(self.room.room_id, int(arg.lstrip("#")))

    async def _search(self, arg: str) -> None:
        found = await self.client.search(arg)
        if not found.hits:
            self.screen.notice(f"nothing found for {arg}")
        for hit in found.hits:
            room = await self.book.get(hit.room_id)
            who = "me" if hit.sender == self.me else await self.book.person(hit.sender, hit.room_id)
            # The hits in [brackets]: a terminal shows text, and the offsets say where.
            text, at = [], 0
            for start, end in hit.highlights:
                text += [hit.snippet[at:start], "[", hit.snippet[start:end], "]"]
                at = end
            text.append(hit.snippet[at:])
            self.screen.line(
                f"  {room.number} {room.title} #{hit.room_seq} {clock(hit.at)} {who}: {''.join(text)}"
            )

    async def close(self) -> None:
        background = list(self._background)
        await cancel_all(background)
        for failure in failures(background):
            self.screen.notice(f"a background write failed: {failure!r}")
