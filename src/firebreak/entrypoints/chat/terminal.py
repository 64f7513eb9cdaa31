"""Typed lines, read by the event loop itself.

Standard input is watched with ``loop.add_reader`` and read with ``os.read`` only when it is
readable, never from a thread blocked in ``readline``: such a thread keeps the process alive after
Ctrl-C until the person presses Enter (the old behaviour). The descriptor stays blocking, because
a terminal's input and output usually share one open file and a non-blocking flag set on stdin
would make prints to stdout fail with EAGAIN.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import stat
from collections.abc import Callable


class LineReader:
    def __init__(self, fd: int, on_typed: Callable[[str], None] | None = None) -> None:
        """``on_typed`` hears a line the moment it is read, when it arrived alone (so its echo is
        the row just above the cursor)."""
        self._fd = fd
        self._on_typed = on_typed
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        #: Whole lines, without their newline; None once input has ended.
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._watching = False

    def start(self) -> None:
        if stat.S_ISREG(os.fstat(self._fd).st_mode):
            # A file (a script of commands): epoll cannot watch it, and it never blocks.
            with os.fdopen(os.dup(self._fd), encoding="utf-8", errors="replace") as f:
                for line in f.read().splitlines():
                    self.lines.put_nowait(line)
            self.lines.put_nowait(None)
            return
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        self._watching = True

    def close(self) -> None:
        if self._watching:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._watching = False

    def _readable(self) -> None:
        data = os.read(self._fd, 65536)
        if not data:
            self.close()
            if self._pending:
                self.lines.put_nowait(self._pending)
            self.lines.put_nowait(None)
            return
        *whole, self._pending = (self._pending + self._decoder.decode(data)).split("\n")
        for line in whole:
            if len(whole) == 1 and self._on_typed is not None:
                self._on_typed(line.rstrip("\r"))
            self.lines.put_nowait(line.rstrip("\r"))
