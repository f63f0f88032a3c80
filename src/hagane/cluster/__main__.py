"""cluster-generic's submit, status and cancel commands for PJM, PBS Professional and Grid Engine.

    python -m hagane.cluster submit pjm JOBSCRIPT   → prints the job id
    python -m hagane.cluster status pjm JOBID       → prints running, success or failed
    python -m hagane.cluster cancel pjm JOBID …
    python -m hagane.cluster show pjm JOBSCRIPT     → prints the submit command line, submits nothing

The profiles call these through the small scripts beside their config.yaml. Snakemake asks for the
status of every active job at each poll, one process per job; here those calls share one listing of the
scheduler (one `pjstat` pair for all jobs, not one per job): the first call of a poll refreshes a state file
under .snakemake/hagane-cluster/ while holding its lock, and the others read it. A job's final state is
kept and never asked again.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from hagane.cluster.schedulers import FAILED, RUNNING, SCHEDULERS, Job, Scheduler, read_properties
from hagane.errors import HaganeError

STATE_DIR = Path(".snakemake") / "hagane-cluster"
# A listing younger than this answers a poll (Snakemake polls every few seconds and many jobs at once).
REFRESH_S = float(os.environ.get("HAGANE_STATUS_REFRESH_S", "20"))
# A job that no listing shows this long after it was first asked about is reported failed.
UNKNOWN_GRACE_S = float(os.environ.get("HAGANE_STATUS_GRACE_S", "300"))



def submit_environment() -> dict[str, str]:
    """The environment a submission is made in. An activated venv sets VIRTUAL_ENV; `.venv/bin/snakemake`
    run without activating does not, but this code then runs in that venv's Python (the cluster-generic
    script takes the Python beside snakemake), which is the environment jobs should activate by default.
    (Found by the Grid Engine test: without it the jobs found no `hagane`.)"""
    environ = dict(os.environ)
    if "VIRTUAL_ENV" not in environ and sys.prefix != sys.base_prefix:
        environ["VIRTUAL_ENV"] = sys.prefix
    return environ

def run(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise HaganeError(f"{shlex.join(cmd)} could not run: {err}") from err
    if proc.returncode:
        raise HaganeError(f"{shlex.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def submit(scheduler: Scheduler, jobscript: str) -> str:
    job = Job.from_properties(read_properties(Path(jobscript)))
    cmd = scheduler.submit_command(job, jobscript, submit_environment())
    Path(job.log).mkdir(parents=True, exist_ok=True)  # the scheduler writes the job's output there
    return scheduler.parse_submit(run(cmd))


def refresh(scheduler: Scheduler, state: dict, now: float) -> None:
    """One poll of the scheduler for every job not yet ended."""
    pending = [j for j, s in state["jobs"].items() if s["state"] == RUNNING]
    seen = scheduler.parse_status([run(cmd) for cmd in scheduler.status_commands(pending)])
    for job_id in pending:
        entry = state["jobs"][job_id]
        if job_id in seen:
            entry["state"] = seen[job_id]
            continue
        if (cmd := scheduler.ended_command(job_id)) is not None:
            try:
                ended = scheduler.parse_ended(run(cmd))
            except HaganeError:
                ended = None  # not in the accounting file yet
            if ended is not None:
                entry["state"] = ended
                continue
        if now - entry["first_asked"] > UNKNOWN_GRACE_S:
            entry["state"] = FAILED
            print(f"job {job_id} is unknown to {scheduler.name} {UNKNOWN_GRACE_S:.0f} s after submission; "
                  "reporting it failed", file=sys.stderr)
    state["refreshed"] = now


def status(scheduler: Scheduler, job_id: str, state_dir: Path = STATE_DIR) -> str:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"{scheduler.name}.json"
    with open(state_dir / f"{scheduler.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text()) if path.is_file() else {"refreshed": 0.0, "jobs": {}}
        now = time.time()
        entry = state["jobs"].setdefault(job_id, {"state": RUNNING, "first_asked": now})
        if entry["state"] == RUNNING and (now - state["refreshed"] > REFRESH_S or "checked" not in entry):
            refresh(scheduler, state, now)
            for e in state["jobs"].values():
                e["checked"] = True
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            tmp.replace(path)
        return state["jobs"][job_id]["state"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hagane.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("verb", choices=["submit", "status", "cancel", "show"])
    parser.add_argument("scheduler", choices=sorted(SCHEDULERS))
    parser.add_argument("args", nargs="+", help="the job script (submit, show) or job ids (status, cancel)")
    args = parser.parse_args(argv)
    scheduler = SCHEDULERS[args.scheduler]
    try:
        if args.verb == "submit":
            print(submit(scheduler, args.args[0]))
        elif args.verb == "show":
            job = Job.from_properties(read_properties(Path(args.args[0])))
            print(shlex.join(scheduler.submit_command(job, args.args[0], submit_environment())))
        elif args.verb == "status":
            print(status(scheduler, args.args[0]))
        else:
            run(scheduler.cancel_command(args.args))
    except HaganeError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from err


if __name__ == "__main__":
    main()
