"""A local cluster's processes do not outlive a starter killed with SIGKILL
(localcluster/reaper.py); a clean stop, and a pid given to another process since, are left alone."""

from __future__ import annotations

import contextlib
import os
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
# them); it prints their pids, then closes the reaper cleanly if asked, and waits to be killed.
STARTER = textwrap.dedent(
    """
    import subprocess, sys, time
    from firebreak.localcluster.reaper import Reaper
    reaper = Reaper()
    procs = [subprocess.Popen(["sleep", "300"], start_new_session=True) for _ in range(2)]
    for p in procs:
        reaper.watch(p.pid)
    if sys.argv[1] == "close":
        reaper.close()
    print(" ".join(str(p.pid) for p in procs), flush=True)
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


def gone_within(pids: list[int], seconds: float) -> list[int]:
    """The pids still alive after up to ``seconds`` of polling."""
    deadline = time.monotonic() + seconds
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Process groups to kill after the test, whatever it found."""
    groups: list[int] = []
    yield groups
    for pid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def start(mode: str, cleanup: list[int]) -> tuple[subprocess.Popen[str], list[int]]:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, mode], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    cleanup.append(starter.pid)
    assert starter.stdout is not None
    pids = [int(p) for p in starter.stdout.readline().split()]
    cleanup.extend(pids)
    assert len(pids) == 2 and all(alive(p) for p in pids)
    return starter, pids


def test_processes_of_a_starter_killed_with_sigkill_are_killed(cleanup: list[int]) -> None:
    starter, pids = start("keep", cleanup)
    starter.kill()
    starter.wait()
    assert gone_within(pids, 10.0) == [], "the reaper killed what the dead starter had started"


def test_a_clean_close_leaves_the_processes_to_their_starter(cleanup: list[int]) -> None:
    starter, pids = start("close", cleanup)
    starter.kill()
    starter.wait()
    # The reaper exited at the close (the starter waited for it); nothing else would kill them.
    assert all(alive(p) for p in pids)


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
    assert gone_within(pids, 10.0) == []
