"""A local cluster's processes do not outlive a starter killed with SIGKILL
(localcluster/reaper.py); a clean stop, and a pid given to another process since, are left alone."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firebreak.localcluster.reaper import kill_groups, start_time

# A starter: the reaper watches two processes in sessions of their own (as the cluster starts
# them). Modes: "keep" waits to be killed; "close" closes the reaper cleanly first; "fork" also
# forks a child that keeps the pipe's end open; "restart" has its first reaper killed before it
# starts the second process. It prints the processes' pids and the reaper's (0: none running).
STARTER = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    from firebreak.localcluster.reaper import Reaper
    mode = sys.argv[1]
    reaper = Reaper()
    procs = []
    for n in range(2):
        procs.append(subprocess.Popen(["sleep", "300"], start_new_session=True))
        reaper.watch(procs[-1].pid)
        if mode == "restart" and n == 0:
            first = reaper.pid
            os.kill(first, signal.SIGKILL)
            os.waitpid(first, 0)
    if mode == "fork" and os.fork() == 0:
        time.sleep(300)
        os._exit(0)
    if mode == "close":
        reaper.close()
    print(" ".join(str(p.pid) for p in procs), reaper.pid or 0, flush=True)
    time.sleep(300)
    """
)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that does not reap it (a container's init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def still_alive_after(pids: list[int], seconds: float) -> list[int]:
    """The pids still running after up to ``seconds``: waits on each process's pidfd, which
    becomes readable when it exits."""
    fds = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[os.pidfd_open(pid)] = pid
    try:
        deadline = time.monotonic() + seconds
        waiting = set(fds)
        while waiting and (left := deadline - time.monotonic()) > 0:
            waiting -= set(select.select(list(waiting), [], [], left)[0])
        return sorted(fds[fd] for fd in waiting)
    finally:
        for fd in fds:
            os.close(fd)


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Process groups to kill after the test, whatever it found."""
    groups: list[int] = []
    yield groups
    for pid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def start(mode: str, cleanup: list[int]) -> tuple[subprocess.Popen[str], list[int], int]:
    """The starter, the pids of the processes it started, and its reaper's pid (0: none)."""
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, mode], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    cleanup.append(starter.pid)
    assert starter.stdout is not None
    *pids, reaper = (int(p) for p in starter.stdout.readline().split())
    cleanup.extend(pids)
    assert len(pids) == 2 and all(alive(p) for p in pids)
    return starter, pids, reaper


@pytest.mark.parametrize(
    "mode",
    [
        "keep",
        "fork",  # the pipe stays open in the forked child: the starter's exit alone must do
        "restart",  # the second reaper must know the first process too
    ],
)
def test_processes_of_a_starter_killed_with_sigkill_are_killed(mode: str, cleanup: list[int]) -> None:
    starter, pids, reaper = start(mode, cleanup)
    assert reaper != 0
    starter.kill()
    starter.wait()
    assert still_alive_after(pids, 10.0) == [], "the reaper killed what the dead starter had started"


def test_a_clean_close_leaves_the_processes_to_their_starter(cleanup: list[int]) -> None:
    starter, pids, reaper = start("close", cleanup)
    assert reaper == 0, "the reaper exited at the close, and the starter waited for it"
    starter.kill()
    starter.wait()
    assert all(alive(p) for p in pids), "nothing else would kill them"


def test_a_pid_that_is_another_process_now_is_not_signalled(cleanup: list[int]) -> None:
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    cleanup.append(other.pid)
    started = start_time(other.pid)
    assert started is not None
    assert kill_groups({other.pid: started - 1}) == [], "an earlier process with the same pid"
    assert alive(other.pid)
    assert kill_groups({other.pid: started}) == [other.pid]
    other.wait(timeout=10)
    assert other.returncode == -signal.SIGKILL


CLUSTER_STARTER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from firebreak.localcluster import LocalCluster, ephemeral_config
    cluster = LocalCluster(ephemeral_config(Path(sys.argv[1])))
    asyncio.run(cluster.start(within_s=120))
    procs = [*cluster.nats.values(), *cluster.gateways.values()]
    print(" ".join(str(p.pid) for p in procs), flush=True)
    time.sleep(300)
    """
)


# Slow set: a real cluster (~15 s).
@pytest.mark.slow
def test_a_local_cluster_does_not_outlive_a_starter_killed_with_sigkill(
    tmp_path: Path, cleanup: list[int]
) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_STARTER, str(tmp_path / "cluster")],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    cleanup.append(starter.pid)
    assert starter.stdout is not None
    pids = [int(p) for p in starter.stdout.readline().split()]
    cleanup.extend(pids)
    assert len(pids) == 6 and all(alive(p) for p in pids), "three nats-servers and three gateways"
    starter.kill()
    starter.wait()
    assert still_alive_after(pids, 10.0) == []
