"""Stops a local cluster's processes when the process that started them dies without stopping them.

Every process of a local cluster runs in a session of its own (so that a Ctrl-C in the terminal
reaches only the tool, which stops the cluster in order), and so it outlives its starter: a bench,
a drill or ``up`` killed with SIGKILL (a test's timeout does that) left three nats-servers and
three or more gateways running, using CPU and ports, until someone killed them by hand.

The :class:`Reaper` is a small process of its own (this file, run as a script: it needs only the
standard library), started with the first process of the cluster. The starter tells it each
process it starts, one line per process on the reaper's stdin. The reaper also holds a pidfd of
the starter. When the starter exits, however it exits, without the line of a clean
:meth:`Reaper.close` first, the reaper SIGKILLs the process group of every process it was told
of that still runs. (The end of the pipe alone would not do: a child forked without exec, as
``multiprocessing`` does, keeps the starter's end open.)

A process is known by its pid and its start time (``/proc/<pid>/stat``), so a pid the kernel has
given to another process since is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import select
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
        #: Every process told of since the last close, so that a reaper started again (the last
        #: one was killed) knows them all.
        self._watched: dict[int, int] = {}
        #: :meth:`watch` and :meth:`close` may be called from different threads.
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The reaper process's pid while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def watch(self, pid: int) -> None:
        """Tells the reaper of a process (a group leader: started with ``start_new_session``)."""
        started = start_time(pid)
        if started is None:
            return  # already gone
        with self._lock:
            self._watched[pid] = started
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), str(os.getpid())],
                    stdin=subprocess.PIPE,
                    text=True,
                    start_new_session=True,  # a Ctrl-C for the starter is not one for the reaper
                )
                told = self._watched.items()
            else:
                told = {pid: started}.items()
            assert self._proc.stdin is not None
            self._proc.stdin.write("".join(f"{p} {t}\n" for p, t in told))
            self._proc.stdin.flush()

    def close(self) -> None:
        """The cluster is stopped: the reaper exits without signalling anything."""
        with self._lock:
            proc, self._proc = self._proc, None
            self._watched.clear()
            if proc is None or proc.stdin is None:
                return
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(DONE + "\n")
                proc.stdin.close()
        proc.wait(timeout=10)


def main() -> None:
    starter_pid = int(sys.argv[1])
    try:
        starter = os.pidfd_open(starter_pid)
    except ProcessLookupError:
        starter = -1
    # The reaper is the starter's child: another parent means the starter died before the pidfd
    # was opened (and its pid may be another process's by now).
    gone = starter < 0 or os.getppid() != starter_pid
    os.set_blocking(0, False)
    watched: dict[int, int] = {}
    pending = b""
    while True:
        if not gone and 0 not in select.select([0, starter], [], [])[0]:
            gone = True  # the starter exited; what it wrote is read below
        try:
            chunk = os.read(0, 65536)
        except BlockingIOError:
            if gone:
                break  # all it wrote is read
            continue
        if not chunk:
            break  # the pipe closed: the starter died, or all its copies of the end did
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line.strip() == DONE.encode():
                return
            pid, started = line.split()
            watched[int(pid)] = int(started)
    kill_groups(watched)


if __name__ == "__main__":
    main()
