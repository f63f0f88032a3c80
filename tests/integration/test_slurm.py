"""The reduced demo workflow on a real Slurm cluster (localhost, started by the test) with the `slurm`
profile: every rule is a Slurm job, pretraining one job of 2 tasks started by srun. While pretraining
runs, its job is cancelled with scancel once a checkpoint exists; Snakemake submits it again (the
profile's `retries`) and training resumes from that checkpoint. (That a resumed run is bit-exact is
tested in tests/unit/pretrain/test_train.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from slurmcluster import local_slurm, missing_binaries
from test_workflow import CONFIG, REPO

pytestmark = pytest.mark.slow

RULES = ["collect_documents", "train_kenlm", "train_quality", "score_documents", "select_documents",
         "redact_documents", "dedup_exact", "dedup_near", "train_tokenizer", "tokenize_documents", "pretrain_model",
         "convert_to_hf", "build_continuation_task", "evaluate_checkpoint", "summarize_evaluation", "publish_model",
         "verify_provenance", "plot_funnel", "plot_tokenizer", "plot_training", "plot_evaluation"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a localhost Slurm cluster runs its daemons as root; run the tests as root (CI does)")
    missing = missing_binaries()
    assert not missing, f"{missing} not installed: `make setup` installs slurmctld, slurmd, slurm-client and munge"
    with local_slurm(tmp_path_factory.mktemp("slurm-state")) as partition:
        yield partition


def pretrain_job_ids() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if "rule_pretrain_model" in line]


def cancel_pretrain_after_first_checkpoint(workdir: Path, cancelled: list[str], stop: threading.Event):
    """scancel the pretraining job once its first checkpoint is complete (step_* appears only whole)."""
    checkpoints = workdir / "results" / "pretrain" / "checkpoints"
    while not stop.is_set():
        if checkpoints.is_dir() and any(checkpoints.glob("step_*")) and (ids := pretrain_job_ids()):
            subprocess.run(["scancel", *ids], check=True)
            cancelled.extend(ids)
            return
        time.sleep(0.5)


def test_the_workflow_runs_as_slurm_jobs_and_pretraining_survives_scancel(slurm, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "data").symlink_to(REPO / "data")
    (workdir / "config").symlink_to(REPO / "config")
    # Only the newest checkpoint is kept, so only it is converted and evaluated (one job each); MinHash
    # is off (its four rules are jobs like any other, run by test_workflow.py) to keep CI's time.
    config = yaml.safe_load(CONFIG.read_text())
    config["pretrain"]["keep_last"] = 1
    config["dedup"]["near"] = {"enabled": False}
    # Publishing the dataset is tested by test_workflow; here its three jobs would only add Slurm round trips.
    config["publish"] = {"dataset": {"enabled": False}}
    config["evaluate"]["continuation"]["max_items"] = 100
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "USER": "root"}
    cmd = [str(bin_dir / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--configfile", str(tmp_path / "config.yaml"),
           # This cluster has no accounting database, so no sacct: ask squeue, and early (CI's clock).
           "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
           "--default-resources", f"slurm_partition={slurm}", "mem_mb=1000", "runtime=60",
           # The profile's data jobs ask for 16 CPUs each (a pool of 16 workers); this node has 2.
           "--set-threads", *(f"{rule}=1" for rule in ("collect_documents", "score_documents", "select_documents",
                                                        "redact_documents", "minhash_signatures", "dedup_near",
                                                        "tokenize_documents"))]
    cancelled: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=cancel_pretrain_after_first_checkpoint, args=(workdir, cancelled, stop))
    watcher.start()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)
    finally:
        stop.set()
        watcher.join()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]

    # Every rule ran as a Slurm job (Snakemake says "localrule" for what it runs itself: only `all`).
    assert set(re.findall(r"^rule (\w+):", log, re.M)) == set(RULES)
    assert set(re.findall(r"^localrule (\w+):", log, re.M)) == {"all"}
    jobs = len(re.findall(r"^rule \w+:", log, re.M))
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)
    assert len(submitted) == jobs  # the retried pretraining job is announced and submitted twice

    # Pretraining: cancelled once, submitted again, resumed from the checkpoint, two srun ranks.
    assert cancelled, "the pretraining job was never seen with a checkpoint"
    train_log = (workdir / "logs" / "pretrain" / "train.log").read_text()
    assert re.search(r"resuming from \S+step_0000100 at step 100", train_log), train_log[-3000:]
    manifest = json.loads((workdir / "results" / "pretrain" / "_manifest.json").read_text())
    assert manifest["counts"]["resumed_from_step"] == 100
    assert manifest["counts"]["world_size"] == 2 and manifest["counts"]["launcher"] == "srun"

    # The metrics read as one run: every logged step once, in order, across the interruption.
    metrics = (workdir / "results" / "pretrain" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == list(range(10, 201, 10))
    assert (workdir / "results" / "audit" / "verify.txt").read_text().startswith("audit passed")
    assert sorted(p.name for p in (workdir / "results" / "pretrain" / "checkpoints").iterdir()) == ["step_0000200"]
    assert sorted(p.name for p in (workdir / "results" / "evaluate").glob("step_*")) == ["step_0000200"]
