"""The filter stages of the reduced demo workflow (collect, KenLM and quality models, score, select) as
real Grid Engine jobs through the `tsubame` profile:
a one-node cell on localhost (tests/sgecluster.py: Debian's gridengine 8.1.9, started and stopped here),
Snakemake's cluster-generic executor, the profile's submit/status/cancel commands (src/hagane/cluster/)
and its job script, qsub, qstat and qacct themselves.

Two things differ from TSUBAME: its `qsub -g GROUP` is TSUBAME's own option, so a `qsub` ahead on PATH
drops exactly that (and records the group) before running the real one; and its resource types
(`cpu_16`, `node_h`, …) are defined in the local cell as requestable integers, so `-l cpu_16=1` is
checked by the real qsub. The later stages are not run here: each level of the chain of jobs costs
~13 s of job start-up (Snakemake inside each job) and CI's 25 minutes go to the whole workflow on Slurm
with multi-task pretraining (test_slurm.py); pretraining across nodes over $PE_HOSTFILE needs a second
host."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sgecluster import local_gridengine, missing_binaries
from test_workflow import CONFIG, REPO

pytestmark = pytest.mark.slow

RULES = {"collect_documents", "train_kenlm", "train_quality", "score_documents", "select_documents"}

QSUB = """#!/bin/sh
# TSUBAME's qsub takes -g GROUP; stock Grid Engine's does not. Drop exactly that option (recording the
# group) and run the real qsub with everything else.
skip=
for arg do
  shift
  if [ -n "$skip" ]; then echo "$arg" >> "{groups}"; skip=; continue; fi
  if [ "$arg" = "-g" ]; then skip=1; continue; fi
  set -- "$@" "$arg"
done
exec /usr/bin/qsub "$@"
"""


@pytest.fixture(scope="module")
def gridengine():
    if os.geteuid() != 0:
        pytest.skip("a localhost Grid Engine cell runs its daemons as root; run the tests as root (CI does)")
    missing = missing_binaries()
    if missing:
        pytest.skip(f"Grid Engine is not installed ({missing}): `make setup` installs gridengine-master, -exec "
                    "and -client where the distribution packages them (Debian 12, Ubuntu)")
    with local_gridengine() as env:
        yield env


def test_the_data_stages_run_as_grid_engine_jobs_through_the_tsubame_profile(gridengine, tmp_path):
    bin_dir, groups = tmp_path / "bin", tmp_path / "groups"
    bin_dir.mkdir()
    qsub = bin_dir / "qsub"
    qsub.write_text(QSUB.format(groups=groups))
    qsub.chmod(qsub.stat().st_mode | stat.S_IXUSR)
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "data").symlink_to(REPO / "data")
    (workdir / "config").symlink_to(REPO / "config")
    config = yaml.safe_load(CONFIG.read_text())
    config["dedup"]["near"] = {"enabled": False}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, **gridengine, "PATH": f"{bin_dir}{os.pathsep}{venv_bin}{os.pathsep}{os.environ['PATH']}",
           "HAGANE_STATUS_REFRESH_S": "1"}
    cmd = [str(venv_bin / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--profile", str(REPO / "workflow" / "profiles" / "tsubame"), "--configfile", str(tmp_path / "config.yaml"),
           "--default-resources", "nodes=1", "mem_mb=1000", "runtime=60", "sge_group='tga-hagane'",
           "sge_resource='cpu_16'", "--latency-wait", "5", "--seconds-between-status-checks", "2",
           # One rule asks for another resource type than the profile's default, as the tokenizer does on TSUBAME.
           "--set-resources", "train_quality:sge_resource=node_q", "--until", "select_documents"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]

    # Every rule up to the selection ran as a Grid Engine job; Snakemake ran none itself.
    rule_of = {job: rule for rule, job in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)$", log, re.M)}
    assert set(rule_of.values()) == RULES and not re.findall(r"^localrule (\w+):", log, re.M)
    submitted = dict(re.findall(r"Submitted job (\d+) with external jobid '(\d+)'", log))
    assert set(submitted) == set(rule_of) and groups.read_text().split() == ["tga-hagane"] * len(submitted)
    # Grid Engine's own accounting: each job ran in the cell's queue, asked for its TSUBAME resource type
    # (node_q where set, cpu_16 by default) and a wall time, and ended with exit status 0.
    for job, sge_id in submitted.items():
        acct = subprocess.run(["qacct", "-j", sge_id], capture_output=True, text=True, env=env).stdout
        resource = "node_q" if rule_of[job] == "train_quality" else "cpu_16"
        assert re.search(r"^qname\s+all\.q\s*$", acct, re.M) and re.search(r"^exit_status\s+0\s*$", acct, re.M), acct
        requests = set(re.search(r"^category\s+-l (\S+)", acct, re.M).group(1).split(","))
        assert f"{resource}=1" in requests and any(r.startswith("h_rt=") for r in requests), acct
        log_file = workdir / "logs" / "cluster" / rule_of[job] / f"hagane.{rule_of[job]}.o{sge_id}"
        assert log_file.is_file() and ". ${HAGANE_ACTIVATE}" not in log_file.read_text()
    assert len(list((workdir / "results" / "filter" / "select").glob("*/*/kept.jsonl.zst"))) == 2
