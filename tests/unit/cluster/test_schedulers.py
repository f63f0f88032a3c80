"""PJM (Fugaku), PBS Professional (ABCI) and Grid Engine (TSUBAME) behind cluster-generic.

The schedulers' binaries cannot run here: the submit lines are checked exactly (golden), the parsers
against outputs written after the published formats (tests/fixtures/cluster/README.md), and the status
command's batching against stand-in pjstat/qstat scripts that count their calls. Nothing here proves
that a real pjsub accepts these lines; the Slurm profile's test runs a real scheduler."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hagane.cluster.__main__ import status
from hagane.cluster.schedulers import FAILED, RUNNING, SCHEDULERS, SUCCESS, Job, hms, read_properties
from hagane.errors import HaganeError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cluster"
PJM, PBS, SGE = SCHEDULERS["pjm"], SCHEDULERS["pbs"], SCHEDULERS["sge"]
ENV = {"VIRTUAL_ENV": "/home/u0/hagane/.venv"}


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def jobscript(tmp_path, rule, threads=1, **resources):
    props = {"type": "single", "rule": rule, "local": False, "input": [], "output": [], "wildcards": {},
             "params": {}, "log": [], "threads": threads, "resources": resources, "jobid": 3, "cluster": {}}
    path = tmp_path / f"snakejob.{rule}.3.sh"
    path.write_text(f"#!/bin/bash\n# properties = {json.dumps(props)}\nset -e\necho job\n")
    return str(path)


PRETRAIN = {"nodes": 16, "tasks": 16, "cpus_per_task": 48, "mem_mb": 28000, "runtime": 1440, "mpi": "mpiexec"}


def test_pjm_submit_lines(tmp_path):
    site = {"pjm_group": "hp240000", "pjm_rscgrp": "small", "pjm_volumes": "/vol0004",
            "activate": "/home/u0/aarch64/bin/activate"}
    script = jobscript(tmp_path, "pretrain_model", threads=2, **PRETRAIN, **site, pjm_llio="localtmp-size=20Gi")
    job = Job.from_properties(read_properties(Path(script)))
    assert PJM.submit_command(job, script, ENV) == [
        "pjsub", "-N", "hagane.pretrain_model", "-g", "hp240000", "-L", "rscgrp=small", "-L", "node=16",
        "-L", "elapse=24:00:00", "--mpi", "proc=16", "-x", "OMP_NUM_THREADS=48",
        "-x", "HAGANE_ACTIVATE=/home/u0/aarch64/bin/activate", "-j", "-o", "logs/cluster/pretrain_model/%j.out",
        "-x", "PJM_LLIO_GFSCACHE=/vol0004", "--llio", "localtmp-size=20Gi", script]
    small = jobscript(tmp_path, "collect_documents", threads=1, nodes=1, mem_mb=4000, runtime=240, **site)
    line = PJM.submit_command(Job.from_properties(read_properties(Path(small))), small, ENV)
    assert line[:12] == ["pjsub", "-N", "hagane.collect_documents", "-g", "hp240000", "-L", "rscgrp=small",
                         "-L", "node=1", "-L", "elapse=04:00:00", "--mpi"]


def test_pjm_refuses_what_a_node_cannot_give_and_a_missing_group(tmp_path):
    big = jobscript(tmp_path, "train_tokenizer", nodes=1, mem_mb=64000, pjm_group="g", pjm_rscgrp="small",
                    activate="/a")
    with pytest.raises(HaganeError, match="mem_mb 64000 exceeds the 1 Fugaku node"):
        PJM.submit_command(Job.from_properties(read_properties(Path(big))), big, ENV)
    nogroup = jobscript(tmp_path, "collect_documents", nodes=1, pjm_rscgrp="small", activate="/a")
    with pytest.raises(HaganeError, match="resource pjm_group is not set; set it for Fugaku"):
        PJM.submit_command(Job.from_properties(read_properties(Path(nogroup))), nogroup, ENV)
    # The login node's (x86-64) environment is no default on Fugaku's aarch64 nodes.
    noenv = jobscript(tmp_path, "collect_documents", nodes=1, pjm_group="g", pjm_rscgrp="small")
    with pytest.raises(HaganeError, match="resource activate is not set"):
        PJM.submit_command(Job.from_properties(read_properties(Path(noenv))), noenv, ENV)


def test_pbs_and_grid_engine_submit_lines(tmp_path):
    script = jobscript(tmp_path, "pretrain_model", threads=2, nodes=2, tasks=16, cpus_per_task=12, runtime=90,
                       pbs_group="gaa50000", pbs_queue="rt_HF")
    assert PBS.submit_command(Job.from_properties(read_properties(Path(script))), script, ENV) == [
        "qsub", "-N", "hagane.pretrain_model", "-P", "gaa50000", "-q", "rt_HF", "-l", "select=2",
        "-l", "walltime=01:30:00", "-v", "OMP_NUM_THREADS=12,HAGANE_ACTIVATE=/home/u0/hagane/.venv/bin/activate",
        "-j", "oe", "-o", "logs/cluster/pretrain_model/", script]
    script = jobscript(tmp_path, "score_documents", threads=4, runtime=120, sge_group="tga-hagane",
                       sge_resource="cpu_16")
    assert SGE.submit_command(Job.from_properties(read_properties(Path(script))), script, {}) == [
        "qsub", "-N", "hagane.score_documents", "-g", "tga-hagane", "-l", "cpu_16=1", "-l", "h_rt=02:00:00",
        "-v", "OMP_NUM_THREADS=4", "-cwd", "-j", "y", "-o", "logs/cluster/score_documents/", script]


def test_submit_output_gives_the_job_id():
    assert PJM.parse_submit(fixture("pjsub.out")) == "31415926"
    assert PBS.parse_submit(fixture("qsub_pbs.out")) == "1234567.pbs1"
    assert SGE.parse_submit(fixture("qsub_sge.out")) == "4567"
    for scheduler in (PJM, PBS, SGE):
        with pytest.raises(HaganeError, match="said:\nqsub: Unknown queue"):
            scheduler.parse_submit("qsub: Unknown queue\n")


def test_status_listings_are_read():
    assert PJM.parse_status([fixture("pjstat.out"), fixture("pjstat_H.out")]) == {
        "31415926": RUNNING, "31415927": RUNNING, "31415928": RUNNING, "31415920": SUCCESS,
        "31415921": FAILED, "31415922": FAILED, "31415923": FAILED, "31415924": FAILED}
    assert PBS.parse_status([fixture("qstat_fx.out")]) == {
        "1234567.pbs1": SUCCESS, "1234568.pbs1": FAILED, "1234569.pbs1": RUNNING, "1234570.pbs1": RUNNING}
    assert SGE.parse_status([fixture("qstat_sge.out")]) == {"4567": RUNNING, "4568": RUNNING, "4569": FAILED}
    assert SGE.parse_ended(fixture("qacct_ok.out")) == SUCCESS
    assert SGE.parse_ended(fixture("qacct_failed.out")) == FAILED
    assert SGE.parse_ended("error: job id 4570 not found\n") is None
    assert hms(1440) == "24:00:00" and hms(0.5) == "00:00:30"


def test_real_grid_engine_output_is_read():
    """Captured from Debian's Grid Engine 8.1.9 on localhost (tests/fixtures/cluster/README.md)."""
    assert SGE.parse_submit(fixture("debian_qsub.out")) == "3"
    assert SGE.parse_status([fixture("debian_qstat.out")]) == {"3": RUNNING}
    assert SGE.parse_ended(fixture("debian_qacct_ok.out")) == SUCCESS
    assert SGE.parse_ended(fixture("debian_qacct_exit3.out")) == FAILED


def stand_in(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_one_pjstat_listing_answers_a_whole_poll(tmp_path, monkeypatch):
    """Snakemake asks once per job; the listing runs once per poll for all of them."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    stand_in(bin_dir, "pjstat", f'echo "$@" >> {calls}\n'
             f'case "$*" in *-H*) cat {FIXTURES / "pjstat_H.out"} ;; *) cat {FIXTURES / "pjstat.out"} ;; esac\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    state = tmp_path / "state"
    for job_id in ("31415926", "31415927", "31415920", "31415921"):
        status(PJM, job_id, state)
    assert len(calls.read_text().splitlines()) == 8  # each new job id triggers one poll (2 listings)
    answers = [status(PJM, j, state) for j in ("31415926", "31415927", "31415920", "31415921")]
    assert answers == [RUNNING, RUNNING, SUCCESS, FAILED]
    assert len(calls.read_text().splitlines()) == 8  # answered from the poll, no new listing
    # An ended job is never asked about again, even once the listing is stale.
    monkeypatch.setattr("hagane.cluster.__main__.REFRESH_S", 0.0)
    assert status(PJM, "31415920", state) == SUCCESS
    assert len(calls.read_text().splitlines()) == 8
    assert status(PJM, "31415926", state) == RUNNING
    assert len(calls.read_text().splitlines()) == 10


def test_a_job_unknown_to_the_scheduler_fails_after_the_grace_period(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in(bin_dir, "qstat", "echo\n")
    stand_in(bin_dir, "qacct", 'echo "error: job id $2 not found" >&2; exit 1\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert status(SGE, "999", tmp_path / "state") == RUNNING
    monkeypatch.setattr("hagane.cluster.__main__.UNKNOWN_GRACE_S", -1.0)
    monkeypatch.setattr("hagane.cluster.__main__.REFRESH_S", 0.0)
    assert status(SGE, "999", tmp_path / "state") == FAILED


def test_the_profile_scripts_reach_the_module(tmp_path, repo):
    """The profiles' submit/status/cancel links run `python -m hagane.cluster <verb> <scheduler>`."""
    script = jobscript(tmp_path, "collect_documents", nodes=1, pjm_group="g", pjm_rscgrp="small", activate="/a")
    env = {**os.environ, "HAGANE_PYTHON": sys.executable}
    for site, expected in (("fugaku", "pjsub -N hagane.collect_documents -g g"), ("abci", "resource pbs_group"),
                           ("tsubame", "resource sge_resource")):
        submit = repo / "workflow" / "profiles" / site / "submit"
        proc = subprocess.run([str(submit), script], capture_output=True, text=True, env=env, cwd=tmp_path)
        # No scheduler here: PJM's submit fails running pjsub (after building its line); PBS and Grid
        # Engine stop earlier, at the group this test leaves unset.
        assert proc.returncode == 1
        assert ("pjsub" in proc.stderr) if site == "fugaku" else (expected in proc.stderr), proc.stderr
    show = subprocess.run([sys.executable, "-m", "hagane.cluster", "show", "pjm", script], capture_output=True,
                          text=True, check=True, cwd=tmp_path)
    assert show.stdout.startswith("pjsub -N hagane.collect_documents -g g -L rscgrp=small")


def test_jobs_activate_the_environment_snakemake_runs_in_even_unactivated(monkeypatch):
    """`.venv/bin/snakemake` without `activate` sets no VIRTUAL_ENV; the submit command runs in that venv's
    Python, so its prefix is the default (found by tests/integration/test_gridengine.py)."""
    import sys

    from hagane.cluster.__main__ import submit_environment

    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert sys.prefix != sys.base_prefix, "the tests run in the project's virtual environment"
    assert submit_environment()["VIRTUAL_ENV"] == sys.prefix
    monkeypatch.setenv("VIRTUAL_ENV", "/home/u0/other")
    assert submit_environment()["VIRTUAL_ENV"] == "/home/u0/other"
