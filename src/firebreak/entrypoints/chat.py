"""A line-based terminal chat client on top of the client library.

Type text to send it to the current room; commands start with ``/`` (``/help`` lists them).
Incoming events print as they arrive, from whichever DC the connection currently uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys

from firebreak.client import ApiError, Client, LiveConnection
from firebreak.config import Config
from firebreak.domain.events import (
    MemberLeft,
    MembersInvited,
    MessageSent,
    ReadUpTo,
    RoomCreated,
    RoomRenamed,
)
from firebreak.domain.model import ClientEvent
from firebreak.errors import FirebreakError

HELP = """commands:
  /rooms                 your rooms, with unread counts
  /dm USER               open the 1:1 room with USER and switch to it
  /group NAME USER,...   create a group room and switch to it
  /open N                switch to room N of /rooms
  /history               the last 20 messages of the current room
  /read                  mark the current room read
  /invite USER,...       add people to the current group
  /rename NAME           rename the current group
  /leave                 leave the current group
  /whoami                your account and the DC you are using
  /quit
anything else is sent to the current room"""


class Chat:
    def __init__(self, client: Client, live: LiveConnection, out: asyncio.Queue[str]) -> None:
        self.client = client
        self.live = live
        self.out = out
        self.room: str | None = None
        self.room_ids: list[str] = []
        self.names: dict[str, str] = {}

    def say(self, line: str) -> None:
        self.out.put_nowait(line)

    async def name_of(self, user_id: str, room_id: str) -> str:
        if user_id not in self.names:
            with contextlib.suppress(FirebreakError):
                for m in (await self.client.room(room_id)).members:
                    self.names[m.user_id] = m.display_name
        return self.names.get(user_id, user_id)

    async def show(self, item: ClientEvent) -> None:
        e = item.event
        if isinstance(e, MessageSent):
            mine = self.client.user is not None and e.sender == self.client.user.user_id
            who = "me" if mine else await self.name_of(e.sender, e.room_id)
            marker = "" if e.room_id == self.room else f" [{e.room_id[:8]}]"
            self.say(f"{who}{marker}: {e.text}")
        elif isinstance(e, ReadUpTo) and e.room_id == self.room:
            self.say(f"  ({await self.name_of(e.user_id, e.room_id)} read up to #{e.room_seq})")
        elif isinstance(e, RoomCreated | MembersInvited | MemberLeft | RoomRenamed):
            self.say(f"  [{e.room_id[:8]}] {type(e).__name__}")

    async def command(self, line: str) -> bool:
        """Handles one input line; returns False to quit."""
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        c = self.client
        if cmd == "/quit":
            return False
        if cmd == "/help":
            self.say(HELP)
        elif cmd == "/whoami":
            self.say(f"{c.user.username if c.user else '?'} via {c.base_url} (live: {self.live.state.value})")
        elif cmd == "/rooms":
            rooms = (await c.rooms()).rooms
            self.room_ids = [r.room_id for r in rooms]
            for i, r in enumerate(rooms, 1):
                title = r.peer.display_name if r.peer else r.name
                last = r.last_message.text if r.last_message else ""
                self.say(f"{i:3} {title:20} unread {r.unread:<4} {last[:40]}")
        elif cmd == "/dm" and arg:
            self.room = (await c.open_direct(arg)).room_id
            self.say(f"now chatting with {arg}")
        elif cmd == "/group" and arg:
            name, _, members = arg.partition(" ")
            self.room = (await c.create_group(name, [m for m in members.split(",") if m])).room_id
            self.say(f"created group {name}")
        elif cmd == "/open" and arg.isdigit() and 0 < int(arg) <= len(self.room_ids):
            self.room = self.room_ids[int(arg) - 1]
            self.say(f"switched to room {arg}")
        elif cmd in ("/history", "/read", "/invite", "/rename", "/leave") and self.room is None:
            self.say("no current room: use /dm, /group or /open first")
        elif cmd == "/history" and self.room:
            for m in (await c.history(self.room, limit=20)).messages:
                who = await self.name_of(m.sender, m.room_id)
                self.say(f"#{m.room_seq} {who}: {m.text}  ({m.unread} unread)")
        elif cmd == "/read" and self.room:
            newest = (await c.history(self.room, limit=1)).messages
            if newest:
                await c.mark_read(self.room, newest[-1].room_seq)
        elif cmd == "/invite" and self.room and arg:
            await c.invite(self.room, arg.split(","))
        elif cmd == "/rename" and self.room and arg:
            await c.rename(self.room, arg)
        elif cmd == "/leave" and self.room:
            await c.leave(self.room)
            self.room = None
        elif cmd.startswith("/"):
            self.say("unknown command; /help lists them")
        elif self.room is None:
            self.say("no current room: use /dm USER or /group NAME USERS first")
        else:
            await c.send(self.room, line)
        return True


async def _sign_in(client: Client, username: str, password: str) -> None:
    try:
        await client.login(username, password)
    except ApiError as exc:
        if exc.code != "bad_credentials":
            raise
        await client.register(username, password)  # username_taken here means: wrong password
        await client.login(username, password)


async def run_chat(config: Config, username: str, password: str | None, dc: str | None) -> int:
    names = [d.name for d in config.dcs]
    preferred = names.index(dc) if dc in names else 0
    if not password:
        password = await asyncio.to_thread(getpass.getpass, f"password for {username}: ")
    out: asyncio.Queue[str] = asyncio.Queue()
    async with Client([d.http_url for d in config.dcs], preferred=preferred) as client:
        await _sign_in(client, username, password)
        ws_urls = [d.ws_url for d in config.dcs]
        live = LiveConnection(ws_urls, client.current_token, preferred=preferred).start()
        chat = Chat(client, live, out)

        async def printer() -> None:
            while True:
                print(await out.get(), flush=True)

        async def events() -> None:
            while True:
                await chat.show(await live.events.get())

        background = [asyncio.create_task(printer()), asyncio.create_task(events())]
        chat.say(f"signed in as {username} via {client.base_url}. /help for commands.")
        try:
            while True:
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                try:
                    if not await chat.command(line):
                        break
                except FirebreakError as exc:
                    chat.say(f"error: {exc.code}: {exc.message}")
        finally:
            while not out.empty():
                print(out.get_nowait(), flush=True)
            for task in background:
                task.cancel()
            await live.close()
    return 0
