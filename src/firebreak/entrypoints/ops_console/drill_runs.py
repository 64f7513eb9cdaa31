"""The console's "run a short drill": one ``firebreak drill`` at a time, in a subprocess of the
gateway, against a throwaway cluster of its own (free loopback ports, files under
``<data_dir>/drill-runs/``, removed when it ends), its report written where the console lists
reports (``<data_dir>/drills/<name>/``).

Short and bounded: a fire drill of a few users for ``console_drill_s`` seconds of workload, killed
if it runs longer than ``console_drill_timeout_s``; a second start while one runs is refused (409).
Only where every DC is on this machine (loopback addresses): on a multi-host deployment the
throwaway cluster would compete with a real DC for this host, so it is refused (501).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from firebreak.config import Config
from firebreak.errors import Conflict, FirebreakError

#: What the console's drill runs: few users, one fire, a short workload.
USERS = 6
#: How long a drill stopped for running too long has to stop its cluster.
STOP_GRACE_S = 30.0


def is_local(config: Config) -> bool:
    """Every DC on this machine's loopback addresses."""
    for dc in config.dcs:
        if dc.host == "localhost":
            continue
        try:
            if not ipaddress.ip_address(dc.host).is_loopback:
                return False
        except ValueError:
            return False
    return True


class DrillRuns:
    """At most one drill subprocess; its state for the console."""

    def __init__(self, config: Config, reports: Path) -> None:
        self._config = config
        self._reports = reports
        self._work = config.data_dir / "drill-runs"
        self._task: asyncio.Task[None] | None = None
        self._state: dict[str, Any] = {"state": "idle"}

    def state(self) -> dict[str, Any]:
        answer = dict(self._state)
        if answer["state"] == "running":
            answer["elapsed_s"] = round(time.monotonic() - answer.pop("_started"), 1)
            answer["last_line"] = _last_line(self._work / answer["name"] / "drill.log")
        answer.pop("_started", None)
        return answer

    def start(self) -> dict[str, Any]:
        if not is_local(self._config):
            raise FirebreakError(
                "a drill from the console needs a local cluster (every DC on this machine); on a "
                "multi-host deployment run 'firebreak drill' on a machine of its own",
                code="not_local",
                status=501,
            )
        if self._task is not None and not self._task.done():
            raise Conflict(f"drill {self._state['name']} is still running", code="drill_running")
        limits = self._config.limits
        name = "console-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        cluster = self._work / name
        cluster.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "firebreak.entrypoints.cli", "drill", "--scenario", "fire",
            "--duration", str(limits.console_drill_s), "--users", str(USERS), "--group-rooms", "2",
            "--direct-rooms", "2", "--second-devices", "1", "--rate", "5",
            "--report", str(self._reports / name), "--data-dir", str(cluster / "cluster"),
        ]  # fmt: skip
        self._state = {"state": "running", "name": name, "_started": time.monotonic()}
        self._task = asyncio.create_task(self._run(name, command, cluster, limits.console_drill_timeout_s))
        return self.state()

    async def _run(self, name: str, command: list[str], work: Path, timeout_s: float) -> None:
        started = time.monotonic()
        result: dict[str, Any] = {"name": name}
        try:
            with (work / "drill.log").open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    *command, stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True
                )
                try:
                    code = await asyncio.wait_for(proc.wait(), timeout_s)
                except TimeoutError:
                    await _stop(proc)
                    result |= {"state": "error", "message": f"stopped after {timeout_s:.0f} s"}
                else:
                    # The drill's exit status: 0 passed, 1 the verdict failed, 2 it could not run.
                    states = {0: "passed", 1: "failed"}
                    result |= {"state": states.get(code, "error"), "exit_code": code}
            result["last_line"] = _last_line(work / "drill.log")
        except OSError as exc:
            result |= {"state": "error", "message": str(exc)}
        except asyncio.CancelledError:
            result |= {"state": "error", "message": "the gateway stopped"}
            raise
        finally:
            result["took_s"] = round(time.monotonic() - started, 1)
            self._state = result
            with contextlib.suppress(OSError):
                shutil.rmtree(work / "cluster")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Ctrl-C first: the drill then stops its cluster's processes (each in a session of its
    own, which a kill of the drill alone would leave running); a kill if that takes too long."""
    proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def _last_line(path: Path) -> str:
    try:
        lines = path.read_bytes().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
