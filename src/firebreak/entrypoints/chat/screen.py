"""What the terminal chat prints, and how: timestamps, message lines, room events as sentences.

The chat is line-based (no full-screen UI): every output is one or more whole lines, so it reads
the same in a terminal, a pipe or a log. The only cursor movement is removing the echo of a
message the person just typed, which the message's own line replaces (see :meth:`Screen.erase_typed`).
"""

from __future__ import annotations

import math
import shutil
import time
from typing import TextIO

from firebreak.domain.events import MemberLeft, MembersInvited, RoomCreated, RoomRenamed

#: Marks on one's own messages: waiting for the log's acknowledgement, and acknowledged.
PENDING = "(pending)"
SENT = "✓"


def clock(at_ms: int) -> str:
    """Local wall-clock time of a server timestamp, as a person reads it in a chat."""
    return time.strftime("%H:%M", time.localtime(at_ms / 1000))


def now_ms() -> int:
    return int(time.time() * 1000)


def message_line(at_ms: int, room: str, who: str, text: str, mark: str = "") -> str:
    line = f"{clock(at_ms)} [{room}] {who}: {text}"
    return f"{line} {mark}" if mark else line


def event_line(at_ms: int, room: str, text: str) -> str:
    return f"{clock(at_ms)} [{room}] * {text}"


def names(people: list[str]) -> str:
    """'bob', 'bob and carol', 'bob, carol and dave'."""
    if len(people) <= 1:
        return "".join(people)
    return f"{', '.join(people[:-1])} and {people[-1]}"


def room_event_text(
    event: RoomCreated | MembersInvited | MemberLeft | RoomRenamed, actor: str, people: list[str]
) -> str | None:
    """A room event as a sentence; ``actor`` is who did it ("you" for oneself), ``people`` the
    users it names besides the actor. None for events not worth a line (a 1:1 room being opened:
    its first message says more)."""
    if isinstance(event, RoomCreated):
        if event.kind == "direct":
            return None
        return f"{actor} created the group {event.name!r} with {names(people)}"
    if isinstance(event, MembersInvited):
        return f"{actor} invited {names(people)}"
    if isinstance(event, MemberLeft):
        return f"{actor} left"
    return f"{actor} renamed the room to {event.name!r}"


class Screen:
    def __init__(self, out: TextIO, *, tty: bool) -> None:
        self._out = out
        self._tty = tty

    def line(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def notice(self, text: str) -> None:
        """Something about the chat itself (connection, room switches), set apart from messages."""
        self.line(f"-- {text}")

    def erase_typed(self, typed: str) -> None:
        """Removes the terminal's echo of a message just typed, so the message is shown once: as
        its own line with the room, time and delivery mark. Only on a terminal (elsewhere there
        is no echo), and called as soon as the line is read, before anything else is printed."""
        if not self._tty:
            return
        width = max(1, shutil.get_terminal_size().columns)
        rows = max(1, math.ceil(len(typed) / width))
        self._out.write(f"\x1b[{rows}A\r\x1b[J")
        self._out.flush()
