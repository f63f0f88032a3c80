"""Stale success: after a failed or killed job, a plain rerun rebuilds the missing output and everything made
from it, instead of "Nothing to be done" over an old model and an old "audit passed".

The real workflow on the tests' config, planned only (`-n`): every declared output is laid down as an empty
file or folder and marked up to date with `snakemake --touch`, which is what a finished run leaves as far as
planning can tell. Then an upstream output is removed, as Snakemake removes a job's outputs before running it
and leaves them missing when the job fails or is killed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("config.yaml")
# The directory() outputs of rules/.
DIRECTORIES = re.compile(r"(/model|/hf|/dataset|/checkpoints/step_\d{7})$")
# ~6 dry runs of the real workflow at ~3 s of CPU each: slow on a busy machine.
pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cmd = [str(bin_dir / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--profile", str(REPO / "workflow" / "profiles" / "local"), "--configfile", str(CONFIG), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def planned(workdir: Path) -> tuple[dict[str, int], str]:
    """{rule: jobs} of a plain dry run (empty when there is nothing to be done), and what it printed on stderr."""
    proc = snakemake(workdir, "-n")
    if "Nothing to be done" in proc.stdout + proc.stderr:
        return {}, proc.stderr
    table = (proc.stdout + proc.stderr).split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}, proc.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A work directory whose every declared output exists and is up to date."""
    workdir = tmp_path_factory.mktemp("stale")
    (workdir / "data").symlink_to(REPO / "data")
    (workdir / "config").symlink_to(REPO / "config")
    summary = snakemake(workdir, "--summary").stdout.splitlines()
    outputs = [line.split("\t")[0] for line in summary[1:] if line.startswith("results/")]
    assert len(outputs) > 40
    for out in outputs:
        path = workdir / out
        if DIRECTORIES.search(out):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")
    snakemake(workdir, "--touch", "--cores", "1")
    return workdir


@pytest.fixture
def run(finished, tmp_path) -> Path:
    """A copy of the finished work directory for one test to damage (time stamps and Snakemake's records kept)."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy, symlinks=True)
    return copy


def test_a_finished_run_plans_nothing(run):
    jobs, stderr = planned(run)
    assert jobs == {} and "hagane: " not in stderr


def test_a_killed_training_job_is_rebuilt_with_everything_made_from_it(run):
    # What Snakemake leaves when the training job is killed after a change: its outputs removed, the old
    # conversions, evaluations, published model and audit report still there.
    shutil.rmtree(run / "results/pretrain/checkpoints/step_0000200")
    (run / "results/pretrain/metrics.jsonl").unlink()
    (run / "results/pretrain/_manifest.json").unlink()
    jobs, stderr = planned(run)
    assert jobs == {"pretrain_model": 1, "convert_to_hf": 2, "evaluate_checkpoint": 2, "plot_training": 1,
                    "publish_model": 1, "summarize_evaluation": 1, "plot_evaluation": 1, "verify_provenance": 1,
                    "all": 1}
    why = "(a job failed, was killed or its output was removed): rule pretrain_model runs again, and every job " \
          "that depends on it"
    assert [line for line in stderr.splitlines() if line.startswith("hagane: ")] == [
        f"hagane: results/pretrain/metrics.jsonl is missing but results/evaluate/summary.json, made from it, exists {why}",
        f"hagane: results/pretrain/_manifest.json is missing but results/audit/verify.txt, made from it, exists {why}",
        "hagane: results/pretrain/checkpoints/step_0000200 is missing but results/convert/step_0000200/model, made "
        f"from it, exists {why}",
    ]


def test_a_missing_pack_record_reruns_that_pack_and_what_follows(run):
    (run / "results/tokenize/manuals_text/_packs/pack-00000.json").unlink()
    jobs, stderr = planned(run)
    assert jobs == {"tokenize_documents": 1, "build_continuation_task": 1, "pretrain_model": 1, "convert_to_hf": 2,
                    "evaluate_checkpoint": 2, "plot_training": 1, "publish_model": 1, "summarize_evaluation": 1,
                    "plot_evaluation": 1, "verify_provenance": 1, "all": 1}
    assert "hagane: results/tokenize/manuals_text/_packs/pack-00000.json is missing but " in stderr


def test_the_audit_report_is_never_older_than_the_summary_it_describes(run):
    # The summary made again with other figures (its bytes change: Snakemake compares small files' checksums).
    (run / "results/evaluate/summary.csv").write_text("step,tokens\n")
    assert planned(run)[0] == {"verify_provenance": 1, "all": 1}
