"""What every benchmark records beside its figures: the machine, the code version, the load, and the CPU
that other processes used during each measurement."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY_LOAD = 0.5  # one-minute load average above which timings on this 2-core machine are suspect


def cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (the first line of /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Watch:
    """Wall and CPU time of a block, and the CPU that *other* processes used meanwhile. The load average
    cannot tell the two apart once the benchmark itself has run for a minute: it counts us too."""

    def __enter__(self) -> Watch:
        self._wall, self._cpu, self._busy = time.perf_counter(), cpu_seconds(), machine_busy_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = cpu_seconds() - self._cpu
        others = max(0.0, machine_busy_seconds() - self._busy - self.cpu_s)
        # /proc/stat counts in clock ticks (10 ms): under a second, one tick more or less reads as a neighbour.
        self.others_cores = round(others / self.wall_s, 2) if self.wall_s >= 1 else None


def load_average() -> float:
    one_minute = os.getloadavg()[0]
    if one_minute > BUSY_LOAD:
        print(f"warning: load average {one_minute:.2f} > {BUSY_LOAD} before the run: something else is "
              "running, timings will read low", file=sys.stderr)
    return round(one_minute, 2)


def machine() -> dict:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)), "cpu_model": model,
            "python": platform.python_version(), "platform": platform.platform()}


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
