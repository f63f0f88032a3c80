"""A real one-node Grid Engine on localhost for the tests: Debian's gridengine-master, -exec and -client
(installed and configured by `make setup`, the cell `default` under /var/lib/gridengine), started here and
stopped afterwards.

What a stock cell needs before it runs root's jobs (found by hand, DESIGN-level traps):
- the qmaster's name: Debian's package writes `localhost` to act_qmaster, but commlib resolves
  127.0.0.1 to the host's own name and refuses the connection ("access denied") unless
  `host_aliases` says the two are one host;
- `min_uid 0`, `min_gid 0` in the global configuration (root's jobs are refused otherwise);
- a submit host, and a queue `all.q` on localhost (the package makes none; the template's pe_list names a
  parallel environment `smp` that does not exist);
- a scheduler interval of a second rather than 15 s, so that a chain of jobs does not wait on it.

TSUBAME's resource types (node_f, node_h, cpu_16, gpu_1) are defined here as requestable integer
complexes on the queue, so the tsubame profile's `qsub -l cpu_16=1` is accepted by the real qsub as it
is on TSUBAME. Its `-g GROUP` is a TSUBAME addition to qsub, not stock Grid Engine: the test puts a `qsub`
ahead on PATH that drops exactly that option and runs the real one (tests/fixtures/cluster/qsub-tsubame).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SGE_ROOT, SGE_CELL = Path("/var/lib/gridengine"), "default"
ENV = {"SGE_ROOT": str(SGE_ROOT), "SGE_CELL": SGE_CELL}
BINARIES = ("qsub", "qstat", "qacct", "qdel", "qconf", "qhost")
DAEMONS = ("/usr/sbin/sge_qmaster", "/usr/sbin/sge_execd")
# The qmaster takes ~9 s to act on `qconf -km` here; after this long it is killed (its spool is written
# with every change, and the next start configures the cell afresh anyway).
STOP_GRACE_S = 3
TSUBAME_TYPES = ("node_f", "node_h", "node_q", "node_o", "gpu_1", "gpu_h", "cpu_4", "cpu_8", "cpu_16", "cpu_40", "cpu_80")


def missing_binaries() -> list[str]:
    return [b for b in (*BINARIES, *DAEMONS) if shutil.which(b) is None and not Path(b).exists()]


def _env() -> dict[str, str]:
    return {**os.environ, **ENV}


def qconf(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["qconf", *args], capture_output=True, text=True, env=_env())
    if check and proc.returncode != 0:
        raise RuntimeError(f"qconf {' '.join(args)} failed: {proc.stdout}{proc.stderr}")
    return proc.stdout + proc.stderr


def _from_file(option: str, text: str, name: str = "settings") -> None:
    """qconf -A…/-M… from a file: the way to change settings without an interactive editor. (-Mconf
    takes the configuration's name from the file's: `global`.)"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text)
        qconf(option, str(path))


def _set(listing: str, **values: str) -> str:
    """A `key value` listing (qconf -sconf/-ssconf/-sq) with the given keys replaced."""
    lines = []
    for line in listing.splitlines():
        key = line.split(None, 1)[0] if line.strip() else ""
        lines.append(f"{key} {values.pop(key)}" if key in values else line)
    return "\n".join(lines + [f"{k} {v}" for k, v in values.items()]) + "\n"


def _running(daemon: str) -> bool:
    """Whether a live process has this name (a stopped daemon whose parent does not reap it stays a
    zombie in containers whose init does not: not running)."""
    pids = subprocess.run(["pgrep", "-x", daemon], capture_output=True, text=True).stdout.split()
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                return True
    return False


def _wait(what: str, ready, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"Grid Engine: {what} did not happen within {timeout_s} s")


def _configure(slots: int) -> None:
    qconf("-as", "localhost", check=False)  # submit host (already one after the first run)
    _from_file("-Mconf", _set(qconf("-sconf"), min_uid="0", min_gid="0"), name="global")
    _from_file("-Msconf", _set(qconf("-ssconf"), schedule_interval="0:0:1", flush_submit_sec="1",
                                flush_finish_sec="1"))
    complexes = qconf("-sc")
    missing = [t for t in TSUBAME_TYPES if not re.search(rf"^{t}\s", complexes, re.M)]
    if missing:
        body = [line for line in complexes.splitlines() if line.strip() and not line.startswith("#")]
        body += [f"{t} {t} INT <= YES NO 0 0" for t in missing]
        _from_file("-Mc", "\n".join(body) + "\n")
    queue = _set(qconf("-sq"), qname="all.q", hostlist="localhost", slots=str(slots), pe_list="NONE",
                 complex_values=",".join(f"{t}=64" for t in TSUBAME_TYPES), h_rt="INFINITY")
    exists = "all.q" in qconf("-sql", check=False).split()
    _from_file("-Mq" if exists else "-Aq", queue)


@contextlib.contextmanager
def local_gridengine(slots: int | None = None):
    """Start sge_qmaster and sge_execd for the cell, configure it for root's jobs on localhost, yield
    the environment (SGE_ROOT, SGE_CELL) that qsub & co. need; stop both daemons afterwards."""
    common = SGE_ROOT / SGE_CELL / "common"
    (common / "act_qmaster").write_text("localhost\n")
    (common / "host_aliases").write_text(f"localhost {socket.gethostname()}\n")
    subprocess.run(["/usr/sbin/sge_qmaster"], check=True, env=_env())
    try:
        _wait("the qmaster answering", lambda: subprocess.run(["qconf", "-sh"], capture_output=True,
                                                             env=_env()).returncode == 0)
        _configure(slots or os.cpu_count() or 1)
        subprocess.run(["/usr/sbin/sge_execd"], check=True, env=_env())
        # The execution host is up when qhost reports its load (a dash until execd's first report).
        _wait("the execution host reporting", lambda: re.search(
            r"^localhost\s+\S+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d",
            subprocess.run(["qhost"], capture_output=True, text=True, env=_env()).stdout, re.M) is not None)
        yield dict(ENV)
    finally:
        subprocess.run(["qdel", "-u", "root"], capture_output=True, env=_env())
        subprocess.run(["qconf", "-ke", "localhost"], capture_output=True, env=_env())
        subprocess.run(["qconf", "-km"], capture_output=True, env=_env())
        for daemon in ("sge_execd", "sge_qmaster"):
            with contextlib.suppress(RuntimeError):
                _wait(f"{daemon} stopping", lambda d=daemon: not _running(d), timeout_s=STOP_GRACE_S)
            subprocess.run(["pkill", "-9", "-x", daemon], capture_output=True)
