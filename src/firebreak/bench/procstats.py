"""CPU time and peak memory of processes, from /proc (Linux)."""

from __future__ import annotations

import os
import resource

import msgspec

_TICK = os.sysconf("SC_CLK_TCK")


class ProcSample(msgspec.Struct, frozen=True):
    cpu_s: float
    peak_rss_mb: float


def sample(pid: int | None) -> ProcSample:
    """CPU seconds so far and peak resident memory of ``pid`` (None: this process)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return ProcSample(usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
        peak = 0.0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
        return ProcSample(cpu, peak)
    except (OSError, IndexError, ValueError):
        return ProcSample(0.0, 0.0)
