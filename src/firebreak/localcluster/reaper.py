"""Stops a local cluster's processes when the process that started them dies without stopping them.

Every process of a local cluster runs in a session of its own (so that a Ctrl-C in the terminal
reaches only the tool, which stops the cluster in order), and so it outlives its starter: a bench,
a drill or ``up`` killed with SIGKILL (a test's timeout does that) left three nats-servers and
three or more gateways running, using CPU and ports, until someone killed them by hand.
``PR_SET_PDEATHSIG`` would not do: it fires when the *thread* that forked the child ends, and the
tools start processes from worker threads too.

The :class:`Reaper` is a small process of its own (this file, run as a script),
started with the first process of the cluster. The starter tells it each process it starts, one
line per process on the reaper's stdin, and nothing else holds that pipe (the cluster's processes
are started with their other files closed). When the starter dies, however it dies, the kernel
closes the pipe, and the reaper SIGKILLs the process group of every process it was told of that
still runs. A clean :meth:`Reaper.close` says so first, and the reaper leaves everything alone.

A process is known by its pid and its start time (``/proc/<pid>/stat``), so a pid the kernel has
given to another process since is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

#: The line a clean close writes before it closes the pipe.
DONE = "done"


def start_time(pid: int) -> int | None:
    """When the process started, in clock ticks after boot (None: no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields after its last ")".
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def kill_groups(watched: dict[int, int]) -> list[int]:
    """SIGKILLs the process group of each (pid, start time) whose process is the same one, or
    gone with members of its group left (a group's id is not reused while the group exists);
    returns the groups signalled."""
    killed = []
    for pid, started in watched.items():
        now = start_time(pid)
        if now is not None and now != started:
            continue  # the pid is another process's now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


class Reaper:
    """The starter's end: :meth:`watch` each process started, :meth:`close` when all are stopped."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        #: Processes are started from worker threads too (drills, the supervisor).
        self._lock = threading.Lock()

    def watch(self, pid: int) -> None:
        """Tells the reaper of a process (a group leader: started with ``start_new_session``)."""
        started = start_time(pid)
        if started is None:
            return  # already gone
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    # This file as a script: ``-m`` would import the package first, which
                    # imports this module, and runpy warns; and the reaper needs only the stdlib.
                    [sys.executable, str(Path(__file__).resolve())],
                    stdin=subprocess.PIPE,
                    text=True,
                    start_new_session=True,  # a Ctrl-C for the starter is not one for the reaper
                )
            assert self._proc.stdin is not None
            self._proc.stdin.write(f"{pid} {started}\n")
            self._proc.stdin.flush()

    def close(self) -> None:
        """The cluster is stopped: the reaper exits without signalling anything."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None or proc.stdin is None:
                return
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(DONE + "\n")
                proc.stdin.close()
        proc.wait(timeout=10)


def main() -> None:
    watched: dict[int, int] = {}
    for line in sys.stdin:
        if line.strip() == DONE:
            return
        pid, started = line.split()
        watched[int(pid)] = int(started)
    kill_groups(watched)  # the pipe closed without DONE: the starter died


if __name__ == "__main__":
    main()
