"""A real one-node Slurm cluster on localhost for the tests: Debian's munge, slurmctld and slurmd (installed
by `make setup`), started with a minimal slurm.conf and stopped afterwards. DESIGN.md lists the traps:
the daemons run as root with proctrack/linuxproc and task/none, accounting is off (so Snakemake's
plugin must query squeue), and srun inside a job reads /etc/slurm/slurm.conf, so the file goes there
(an existing one is put back afterwards)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


def missing_binaries() -> list[str]:
    found = {b: shutil.which(b) or (Path("/usr/sbin") / b if (Path("/usr/sbin") / b).exists() else None)
             for b in BINARIES}
    return [b for b, path in found.items() if path is None]


def _conf(state: Path, host: str, cpus: int, memory_mb: int) -> str:
    return f"""ClusterName=hagane-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/d
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MpiDefault=none
MinJobAge=600
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin") / name)


def _stop(pid: int, grace_s: float = 10) -> None:
    """Wait for a daemon told to shut down; kill it if it does not."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, 9)


@contextlib.contextmanager
def local_slurm(state: Path, memory_mb: int = 20000):
    """Start munge (unless running), slurmctld and slurmd; yield the partition name; stop them."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "ctld").mkdir(exist_ok=True)
    (state / "d").mkdir(exist_ok=True)
    host = socket.gethostname().split(".")[0]
    backup = SYSTEM_CONF.read_bytes() if SYSTEM_CONF.exists() else None
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.write_text(_conf(state, host, os.cpu_count() or 1, memory_mb))
    started_munge = False
    try:
        if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode != 0:
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            subprocess.run(["chown", "munge:munge", "/run/munge"], check=False)
            subprocess.run(["runuser", "-u", "munge", "--", _sbin("munged")], check=True)
            started_munge = True
        subprocess.run([_sbin("slurmctld"), "-c"], check=True)  # -c: forget any saved state
        subprocess.run([_sbin("slurmd")], check=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout.split()
            if states and all(s == "idle" for s in states):
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"Slurm did not come up: {(state / 'slurmctld.log').read_text()[-2000:]}")
        yield "debug"
    finally:
        subprocess.run(["scancel", "--user", "root"], capture_output=True)
        subprocess.run(["scontrol", "shutdown"], capture_output=True)
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            with contextlib.suppress(OSError, ValueError):
                _stop(int((state / pid_file).read_text()))
        if started_munge:
            subprocess.run(["pkill", "-x", "munged"], capture_output=True)
        if backup is None:
            SYSTEM_CONF.unlink(missing_ok=True)
        else:
            SYSTEM_CONF.write_bytes(backup)
