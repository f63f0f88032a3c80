"""Batch schedulers without a Snakemake executor plugin: Fujitsu PJM (Fugaku), PBS Professional (ABCI 3.0)
and Grid Engine (TSUBAME 4.0), behind Snakemake's cluster-generic plugin.

Each scheduler turns a job's properties (the JSON that Snakemake writes into every job script: rule,
threads, resources) into one submit command line, reads the job id from the submit command's output,
and reads the states of all jobs from one status listing per poll. Site keys (group, resource group,
queue, LLIO) are resources that the site's profile sets; rules only ask for portable ones (DESIGN.md).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from hagane.errors import HaganeError

RUNNING, SUCCESS, FAILED = "running", "success", "failed"  # what cluster-generic's status command prints


def read_properties(jobscript: Path) -> dict:
    """The `# properties = {…}` line Snakemake writes at the top of every job script."""
    try:
        with open(jobscript, encoding="utf-8") as f:
            for line in f:
                if line.startswith("# properties = "):
                    return json.loads(line[len("# properties = "):])
    except OSError as err:
        raise HaganeError(f"cannot read the job script {jobscript}: {err.strerror}") from err
    raise HaganeError(f"{jobscript}: no '# properties = ' line; the profile's jobscript must keep it")


def hms(minutes: float) -> str:
    seconds = int(round(minutes * 60))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclasses.dataclass(frozen=True)
class Job:
    """What a submit line needs from Snakemake's job properties."""

    name: str
    rule: str
    threads: int
    resources: dict

    @classmethod
    def from_properties(cls, props: dict) -> Job:
        rule = props.get("rule") or "group_" + str(props.get("groupid", "job"))
        return cls(name=f"hagane.{rule}", rule=rule, threads=int(props.get("threads", 1)),
                   resources=props.get("resources", {}))

    def get(self, key: str, default=None):
        value = self.resources.get(key, default)
        return default if value in (None, "", "None") else value

    def require(self, key: str, site: str):
        value = self.get(key)
        if value is None:
            raise HaganeError(f"rule {self.rule}: resource {key} is not set; set it for {site} in the profile's "
                              f"default-resources (or set-resources for this rule)")
        return value

    @property
    def threads_per_task(self) -> int:
        if cpus := self.get("cpus_per_task"):
            return int(cpus)
        return max(1, self.threads // max(1, int(self.get("tasks", 1))))

    @property
    def log(self) -> str:
        return f"logs/cluster/{self.rule}"

    def activate(self, environ: dict[str, str], *, required: bool = False) -> str | None:
        """The activate script the job script sources first (HAGANE_ACTIVATE): the `activate` resource, or
        else the virtual environment Snakemake runs in (where nodes share it and its architecture)."""
        if value := self.get("activate"):
            return str(value)
        if required:
            raise HaganeError(f"rule {self.rule}: resource activate is not set: the compute nodes need an "
                              "environment of their own architecture (see the profile)")
        venv = environ.get("VIRTUAL_ENV")
        return f"{venv}/bin/activate" if venv else None


class Scheduler:
    name = ""
    site = ""

    def submit_command(self, job: Job, jobscript: str, environ: dict[str, str]) -> list[str]:
        raise NotImplementedError

    def parse_submit(self, output: str) -> str:
        raise NotImplementedError

    def status_commands(self, job_ids: list[str]) -> list[list[str]]:
        """The listings that, together, give the state of every job (one poll)."""
        raise NotImplementedError

    def parse_status(self, outputs: list[str]) -> dict[str, str]:
        """job id → running / success / failed, from the outputs of status_commands."""
        raise NotImplementedError

    def ended_command(self, job_id: str) -> list[str] | None:
        """For a job the listings no longer show: a command that says how it ended (None: no such command)."""
        return None

    def parse_ended(self, output: str) -> str | None:
        return None

    def cancel_command(self, job_ids: list[str]) -> list[str]:
        raise NotImplementedError


def _variables(job: Job, environ: dict[str, str]) -> str:
    """`-v` of PBS and Grid Engine: the threads per task, and the environment to activate."""
    activate = job.activate(environ)
    return f"OMP_NUM_THREADS={job.threads_per_task}" + (f",HAGANE_ACTIVATE={activate}" if activate else "")


def _table(text: str, header_start: str) -> list[dict[str, str]]:
    """Rows of a whitespace-aligned table whose header line starts with `header_start`."""
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.split()[0] == header_start:
            names = line.split()
            return [dict(zip(names, row.split())) for row in lines[i + 1:]]
    return []


class PJM(Scheduler):
    """Fujitsu Technical Computing Suite's job manager (Fugaku). One node is a whole A64FX (48 cores,
    28 GiB for jobs): PJM allocates nodes, not cores or memory; `mem_mb` beyond the nodes' memory fails."""

    name, site = "pjm", "Fugaku"
    NODE_MEMORY_MB = 28 * 1024
    WAITING = {"ACC", "QUE", "RNA", "HLD", "SPP", "SPD", "RSM", "RUN", "RNO", "RNE", "RNP"}
    FAILED_STATES = {"ERR", "CCL", "RJT"}

    def submit_command(self, job: Job, jobscript: str, environ: dict[str, str]) -> list[str]:
        nodes = int(job.get("nodes", 1))
        if int(job.get("mem_mb", 0)) > nodes * self.NODE_MEMORY_MB:
            raise HaganeError(f"rule {job.rule}: mem_mb {job.get('mem_mb')} exceeds the {nodes} Fugaku node(s)' "
                              f"{nodes * self.NODE_MEMORY_MB} MB; ask for more nodes")
        cmd = ["pjsub", "-N", job.name, "-g", str(job.require("pjm_group", self.site)),
               "-L", f"rscgrp={job.require('pjm_rscgrp', self.site)}", "-L", f"node={nodes}",
               "-L", f"elapse={hms(float(job.get('runtime', 60)))}",
               "--mpi", f"proc={int(job.get('tasks', 1))}",
               "-x", f"OMP_NUM_THREADS={job.threads_per_task}",
               "-x", f"HAGANE_ACTIVATE={job.activate(environ, required=True)}",
               "-j", "-o", f"{job.log}/%j.out"]
        if volumes := job.get("pjm_volumes"):  # the data volumes the job reads and writes, e.g. /vol0004
            cmd += ["-x", f"PJM_LLIO_GFSCACHE={volumes}"]
        if llio := job.get("pjm_llio"):  # e.g. localtmp-size=10Gi: node-local SSD for staging
            cmd += ["--llio", str(llio)]
        return cmd + [jobscript]

    def parse_submit(self, output: str) -> str:
        if m := re.search(r"\[INFO\] PJM 0000 pjsub Job (\d+) submitted\.", output):
            return m.group(1)
        raise HaganeError(f"pjsub did not report a submitted job; it said:\n{output.strip()}")

    def status_commands(self, job_ids: list[str]) -> list[list[str]]:
        # Queued and running jobs, then the ones that ended (today and yesterday), with their exit codes.
        return [["pjstat", "--choose", "jid,st,ec"], ["pjstat", "-H", "day=2", "--choose", "jid,st,ec"]]

    def parse_status(self, outputs: list[str]) -> dict[str, str]:
        states = {}
        for output in outputs:
            for row in _table(output, "JOB_ID"):
                job_id, st, ec = row.get("JOB_ID"), row.get("ST"), row.get("EC", "-")
                if job_id is None or st is None:
                    continue
                if st in self.WAITING:
                    states[job_id] = RUNNING
                elif st in self.FAILED_STATES:
                    states[job_id] = FAILED
                elif st == "EXT":
                    states[job_id] = SUCCESS if ec == "0" else FAILED
        return states

    def cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["pjdel", *job_ids]


class PBS(Scheduler):
    """Altair PBS Professional (ABCI 3.0): whole nodes of a resource type (`-q rt_HF`), `-P` group."""

    name, site = "pbs", "ABCI"
    WAITING = {"Q", "H", "W", "T", "R", "E", "B", "S", "U", "M", "X"}

    def submit_command(self, job: Job, jobscript: str, environ: dict[str, str]) -> list[str]:
        return ["qsub", "-N", job.name[:236], "-P", str(job.require("pbs_group", self.site)),
                "-q", str(job.require("pbs_queue", self.site)), "-l", f"select={int(job.get('nodes', 1))}",
                "-l", f"walltime={hms(float(job.get('runtime', 60)))}", "-v", _variables(job, environ),
                "-j", "oe", "-o", f"{job.log}/", jobscript]

    def parse_submit(self, output: str) -> str:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        if lines and re.fullmatch(r"\d+(\[\])?\.\S+", lines[-1]):
            return lines[-1]
        raise HaganeError(f"qsub did not print a job id; it said:\n{output.strip()}")

    def status_commands(self, job_ids: list[str]) -> list[list[str]]:
        return [["qstat", "-fx", *job_ids]]  # -x: finished jobs too, with Exit_status

    def parse_status(self, outputs: list[str]) -> dict[str, str]:
        states = {}
        for block in re.split(r"^Job Id: ", "\n".join(outputs), flags=re.M)[1:]:
            job_id = block.split()[0]
            attrs = dict(re.findall(r"^\s+(\w+) = (.*)$", block, flags=re.M))
            state = attrs.get("job_state")
            if state == "F":
                states[job_id] = SUCCESS if attrs.get("Exit_status") == "0" else FAILED
            elif state in self.WAITING:
                states[job_id] = RUNNING
        return states

    def cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["qdel", *job_ids]


class GridEngine(Scheduler):
    """Altair Grid Engine (TSUBAME 4.0): resource types such as node_f=1 or cpu_16=1, `-g` group."""

    name, site = "sge", "TSUBAME"

    def submit_command(self, job: Job, jobscript: str, environ: dict[str, str]) -> list[str]:
        resource = str(job.require("sge_resource", self.site))  # e.g. node_f, cpu_16
        return ["qsub", "-N", job.name, "-g", str(job.require("sge_group", self.site)),
                "-l", f"{resource}={int(job.get('nodes', 1))}", "-l", f"h_rt={hms(float(job.get('runtime', 60)))}",
                "-v", _variables(job, environ), "-cwd", "-j", "y", "-o", f"{job.log}/", jobscript]

    def parse_submit(self, output: str) -> str:
        if m := re.search(r"Your job(?:-array)? (\d+)", output):
            return m.group(1)
        raise HaganeError(f"qsub did not report a submitted job; it said:\n{output.strip()}")

    def status_commands(self, job_ids: list[str]) -> list[list[str]]:
        return [["qstat"]]  # waiting and running jobs; an ended job is no longer listed

    def parse_status(self, outputs: list[str]) -> dict[str, str]:
        states = {}
        for row in _table("\n".join(outputs), "job-ID"):
            if (job_id := row.get("job-ID", "")).isdigit():
                # Eqw: the job failed before it ran and waits for an administrator: it will not succeed.
                states[job_id] = FAILED if "E" in row.get("state", "") else RUNNING
        return states

    def ended_command(self, job_id: str) -> list[str] | None:
        return ["qacct", "-j", job_id]  # the accounting record: how the job ended

    def parse_ended(self, output: str) -> str | None:
        fields = dict(re.findall(r"^(\w+)\s+(.*?)\s*$", output, flags=re.M))
        if "exit_status" not in fields:
            return None  # not yet in the accounting file
        failed = fields.get("failed", "0").split()[0] != "0"
        return FAILED if failed or fields["exit_status"] != "0" else SUCCESS

    def cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["qdel", *job_ids]


SCHEDULERS: dict[str, Scheduler] = {s.name: s for s in (PJM(), PBS(), GridEngine())}
