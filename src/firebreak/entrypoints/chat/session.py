"""One run of the terminal chat: sign in, then three tasks until the person leaves.

* typed lines -> commands, or messages into the outbox (which never blocks typing);
* the outbox -> the log, in order, each message with its own client id until acknowledged;
* the live connection -> the screen (events, and typing and presence notes: notes.py).

Leaving: ``/quit`` or end of input first waits for pending messages (saying so; Ctrl-C skips the
wait). Ctrl-C (SIGINT) or SIGTERM leave at once, with status 0, naming any message not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from firebreak.client import Client, LiveConnection
from firebreak.config import Config
from firebreak.domain.events import MessageSent
from firebreak.errors import FirebreakError
from firebreak.tasks import cancel_all, failures
from firebreak.wire.views import SessionView

from .commands import Chat
from .incoming import show
from .notes import Notes
from .outbox import Outbox
from .rooms import RoomBook
from .screen import Screen
from .signin import SignInFailed, sign_in
from .status import ConnectionStatus
from .terminal import LineReader

#: How long a command (not a message: the outbox has no deadline) keeps trying other DCs.
COMMAND_DEADLINE_S = 20.0


def run_chat(config: Config, username: str, dc: str | None, *, register: bool) -> int:
    names = [d.name for d in config.dcs]
    if dc is not None and dc not in names:
        print(f"firebreak chat: no DC named {dc!r} (the config has {', '.join(names)})", file=sys.stderr)
        return 2
    preferred = names.index(dc) if dc is not None else 0
    try:
        session = sign_in([d.http_url for d in config.dcs], preferred, username, register=register)
    except SignInFailed as exc:
        print(f"firebreak chat: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print()
        return 130
    return asyncio.run(_chat(config, preferred, session))


async def _chat(config: Config, preferred: int, session: SessionView) -> int:
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    screen = Screen(sys.stdout, tty=sys.stdin.isatty() and sys.stdout.isatty())
    urls = [d.http_url for d in config.dcs]
    async with Client(urls, preferred=preferred, retry_deadline=COMMAND_DEADLINE_S) as client:
        client.resume(session)
        live = LiveConnection([d.ws_url for d in config.dcs], client.current_token, preferred=preferred)
        client.use_live(live)  # messages go over the live connection while it is up
        status = ConnectionStatus([d.name for d in config.dcs], client, live, screen.notice)
        outbox = Outbox(client, screen)
        chat = Chat(client, RoomBook(client), outbox, screen, status)

        def typed(line: str) -> None:
            if line.strip() and not line.startswith("/") and chat.room is not None:
                screen.erase_typed(line)

        reader = LineReader(sys.stdin.fileno(), on_typed=typed)
        screen.notice(f"signed in as {session.user.username}; /help lists the commands")
        live.start()
        with contextlib.suppress(FirebreakError):
            await chat.book.refresh()  # numbers rooms from the start, newest activity first
        reader.start()
        notes = Notes(chat)
        finished = asyncio.Event()
        tasks = [
            asyncio.create_task(outbox.run()),
            asyncio.create_task(_events(chat, live, notes)),
            asyncio.create_task(_notes(chat, live, notes)),
            asyncio.create_task(_input(chat, reader, finished)),
        ]
        waits = [asyncio.create_task(interrupted.wait()), asyncio.create_task(finished.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            status.closing()
            reader.close()
            await cancel_all([*tasks, *waits])
            for failure in failures(tasks):
                screen.notice(f"the chat stopped after an error: {failure!r}")
            await chat.close()
            await live.close()
            for item in outbox.unsent():
                screen.notice(f"not sent (the chat ended first): [{item.room_title}] {item.text}")
    return 0


async def _events(chat: Chat, live: LiveConnection, notes: Notes) -> None:
    while True:
        item = await live.events.get()
        if isinstance(item.event, MessageSent):
            notes.message_from(item.event.room_id, item.event.sender)
        try:
            await show(chat, item)
        except FirebreakError as exc:
            chat.screen.notice(f"an event in a room could not be shown: {exc.message} ({exc.code})")


async def _notes(chat: Chat, live: LiveConnection, notes: Notes) -> None:
    while True:
        note = await live.notes.get()
        try:
            await notes.show(note)
        except FirebreakError as exc:
            chat.screen.notice(f"a typing or presence note could not be shown: {exc.message} ({exc.code})")


async def _input(chat: Chat, reader: LineReader, finished: asyncio.Event) -> None:
    while True:
        line = await reader.lines.get()
        if line is None:
            break
        line = line.strip()
        if not line:
            continue
        try:
            if not await chat.handle(line):
                break
        except FirebreakError as exc:
            chat.screen.notice(f"{exc.message} ({exc.code})")
    if chat.outbox.waiting:
        waiting = chat.outbox.waiting
        chat.screen.notice(f"sending {waiting} pending message(s) first; Ctrl-C quits without them")
        await chat.outbox.drained()
    finished.set()
