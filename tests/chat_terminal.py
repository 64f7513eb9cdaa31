"""Drives ``firebreak chat`` through a real pseudo-terminal (pexpect), as a person would: typed
lines with the terminal's own echo, getpass prompts, Ctrl-C as the terminal's interrupt key.

pexpect blocks, so each wait runs in a thread; every wait has a deadline (pexpect's timeout)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import sys
import time

import pexpect  # type: ignore[import-untyped]

from firebreak.localcluster import LocalCluster

PASSWORD = "a long password"
#: A message line's time, as the chat prints it.
TIME = r"\d\d:\d\d"


class ChatTerminal:
    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self._transcript = io.StringIO()
        child.logfile_read = self._transcript

    def count(self, pattern: str) -> int:
        """How many times ``pattern`` (a regular expression) occurs in everything printed so far."""
        return len(re.findall(pattern, self._transcript.getvalue()))

    async def expect(self, pattern: str, within_s: float = 20.0) -> str:
        """Waits for ``pattern`` (a regular expression); returns the text it matched."""
        await asyncio.to_thread(self.child.expect, pattern, timeout=within_s)
        return str(self.child.after)

    async def see(self, text: str, within_s: float = 20.0) -> str:
        """Waits for ``text`` literally; returns what was printed before it since the last wait."""
        await asyncio.to_thread(self.child.expect_exact, text, timeout=within_s)
        return str(self.child.before)

    async def printed(self, text: str, within_s: float = 20.0) -> None:
        """Waits until ``text`` has been printed, before the last wait or after it."""
        if text not in self._transcript.getvalue():
            await self.see(text, within_s)

    def type(self, line: str) -> None:
        self.child.sendline(line)

    async def exit_status(self, within_s: float = 20.0) -> tuple[int | None, float]:
        """Waits for the process to end; returns its exit status and how long that took."""
        start = time.monotonic()
        await asyncio.to_thread(self.child.expect, pexpect.EOF, timeout=within_s)
        await asyncio.to_thread(self.child.wait)
        status: int | None = self.child.exitstatus
        return status, time.monotonic() - start

    async def quit(self) -> None:
        self.type("/quit")
        status, _ = await self.exit_status()
        assert status == 0

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def spawn_chat(
    cluster: LocalCluster, user: str, dc: str, *, password: str | None = PASSWORD, register: bool = False
) -> ChatTerminal:
    """Starts the chat in a pty. ``password`` goes in FIREBREAK_PASSWORD; None leaves it to the prompt."""
    env = {k: v for k, v in os.environ.items() if k != "FIREBREAK_PASSWORD"}
    if password is not None:
        env["FIREBREAK_PASSWORD"] = password
    args = ["-m", "firebreak.entrypoints.cli", "chat", "--config", str(cluster.config_path)]
    args += ["--user", user, "--dc", dc] + (["--register"] if register else [])
    child = pexpect.spawn(sys.executable, args, env=env, encoding="utf-8", dimensions=(40, 200), timeout=20)
    return ChatTerminal(child)


async def signed_in(cluster: LocalCluster, user: str, dc: str, *, register: bool = False) -> ChatTerminal:
    term = spawn_chat(cluster, user, dc, register=register)
    await term.see(f"signed in as {user}")
    await term.expect(r"connected via dc\d")
    return term


def line_of(room: str, who: str, text: str) -> str:
    """A regular expression for a message line: time, room, sender, text."""
    return rf"{TIME} \[{re.escape(room)}\] {re.escape(who)}: {re.escape(text)}"
