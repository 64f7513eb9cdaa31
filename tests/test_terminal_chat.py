"""Two people chat through `firebreak chat` processes (real stdin/stdout) on different DCs."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time

from firebreak.entrypoints.cluster import LocalCluster


class Terminal:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[str] = []

    async def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, text: str, within_s: float = 20.0) -> str:
        assert self.proc.stdout is not None
        end = time.monotonic() + within_s
        while True:
            for line in self.seen:
                if text in line:
                    self.seen.remove(line)
                    return line
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"never saw {text!r}; saw {self.seen}")
            try:
                raw = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            except TimeoutError:
                continue
            if not raw:
                raise AssertionError(f"the chat exited before {text!r}; saw {self.seen}")
            self.seen.append(raw.decode().rstrip())

    async def quit(self) -> None:
        await self.type("/quit")
        await asyncio.wait_for(self.proc.wait(), 20)


async def terminal(cluster: LocalCluster, user: str, dc: str) -> Terminal:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firebreak.entrypoints.cli", "chat", "--config", str(cluster.config_path),
        "--user", user, "--password", "a long password", "--dc", dc,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    term = Terminal(proc)
    await term.expect(f"signed in as {user}")
    return term


async def test_two_terminals_chat(cluster: LocalCluster) -> None:
    tag = secrets.token_hex(3)
    alice = await terminal(cluster, f"alice_{tag}", "dc1")
    bob = await terminal(cluster, f"bob_{tag}", "dc3")
    await alice.type(f"/dm bob_{tag}")
    await alice.expect(f"now chatting with bob_{tag}")
    await alice.type("hello bob, this is dc1")
    await bob.expect("hello bob, this is dc1")
    await bob.type(f"/dm alice_{tag}")
    await bob.expect(f"now chatting with alice_{tag}")
    await bob.type("/read")
    await alice.expect("read up to #1")
    await bob.type("hi alice, dc3 here")
    await alice.expect("hi alice, dc3 here")
    await alice.type("/rooms")
    assert "unread 1" in await alice.expect(f"bob_{tag}"), "bob's reply is unread"
    await alice.type("/history")
    assert "(0 unread)" in await alice.expect(f"#1 alice_{tag}: hello bob")
    await alice.type("/nonsense")
    await alice.expect("unknown command")
    await alice.quit()
    await bob.quit()
