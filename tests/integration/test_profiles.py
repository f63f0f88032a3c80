"""Every site profile plans every rule with its intended resources (`snakemake --profile <site> -n`), and
the fugaku profile's whole submission path — cluster-generic, the job script, submit, the batched status
command — runs real Snakemake jobs through stand-ins for pjsub and pjstat.

The stand-ins run each job script at once on this machine and answer pjstat in the format the tests in
tests/unit/cluster/ read; they are no PJM (no queue, no nodes, no resource checks). PJM and PBS
themselves are not exercised anywhere in this repository; Slurm is, in test_slurm.py, and Grid Engine
(the tsubame profile) in test_gridengine.py."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def dry_run(site: str, workdir: Path) -> dict[str, str]:
    """rule → its resources line, from a dry run of the demo config."""
    (workdir / "data").symlink_to(REPO / "data")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(bin_dir / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(workdir), "--configfile", str(REPO / "config" / "demo.yaml"),
                           "--profile", str(REPO / "workflow" / "profiles" / site), "-n"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    blocks = re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", proc.stdout, flags=re.M | re.S)
    return {rule: re.search(r"resources: (.*)", body).group(1) for rule, body in blocks if "resources:" in body}


EXPECTED = {  # per site: rule → resources its jobs must ask for
    "fugaku": {"collect_documents": ["nodes=1", "pjm_group=hp000000", "pjm_rscgrp=small"],
               "train_tokenizer": ["mem_mb=28000", "nodes=1"],
               "pretrain_model": ["nodes=16", "tasks=16", "cpus_per_task=48", "mpi=mpiexec",
                                  "pjm_llio=localtmp-size=20Gi", "pjm_volumes=/vol0004"],
               "convert_to_hf": ["nodes=1", "mem_mb=28000"]},
    "abci": {"collect_documents": ["pbs_group=gaa00000", "pbs_queue=rt_HC"],
             "pretrain_model": ["pbs_queue=rt_HF", "nodes=2", "tasks=16", "mpi=mpiexec"],
             "evaluate_checkpoint": ["pbs_queue=rt_HG"]},
    "tsubame": {"score_documents": ["sge_group=tga-00000", "sge_resource=cpu_16"],
                "pretrain_model": ["sge_resource=node_f", "nodes=2", "tasks=8", "mpi=mpiexec"],
                "train_tokenizer": ["sge_resource=node_h", "mem_mb=64000"]},
    "slurm": {"pretrain_model": ["mpi=srun", "tasks=2", "mem_mb=16000"], "train_tokenizer": ["mem_mb=16000"]},
    "local": {"pretrain_model": ["tasks=2"]},
}


@pytest.mark.parametrize("site", sorted(EXPECTED))
def test_every_rule_gets_the_site_resources(site, tmp_path):
    resources = dry_run(site, tmp_path)
    assert {"collect_documents", "score_documents", "select_documents", "dedup_exact", "train_tokenizer",
            "tokenize_documents", "pretrain_model", "convert_to_hf", "evaluate_checkpoint"} <= set(resources)
    for rule, wanted in EXPECTED[site].items():
        got = resources[rule].split(", ")
        assert set(wanted) <= set(got), f"{site} {rule}: {resources[rule]}"


PJSUB = '''#!{python}
"""Stand-in for pjsub: runs the job script now, in the background, with the -x variables."""
import os, subprocess, sys
state = os.environ["STANDIN_PJM_STATE"]
args, env = sys.argv[1:], dict(os.environ)
with open(os.path.join(state, "submitted"), "a") as f:
    f.write(" ".join(args) + "\\n")
for flag, value in zip(args, args[1:]):
    if flag == "-x":
        key, _, val = value.partition("=")
        env[key] = val
job_id = str(1000 + sum(1 for _ in open(os.path.join(state, "submitted"))))
out = args[args.index("-o") + 1].replace("%j", job_id)
script = "bash {{0}} > {{1}} 2>&1; echo $? > {{2}}.tmp && mv {{2}}.tmp {{2}}".format(
    args[-1], out, os.path.join(state, job_id + ".exit"))
subprocess.Popen(["bash", "-c", script], env=env, start_new_session=True)
print(f"[INFO] PJM 0000 pjsub Job {{job_id}} submitted.")
'''

PJSTAT = '''#!{python}
"""Stand-in for pjstat --choose jid,st,ec [-H]: running jobs, or (-H) ended ones with their exit codes."""
import os, sys
state = os.environ["STANDIN_PJM_STATE"]
with open(os.path.join(state, "pjstat_calls"), "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
ended = "-H" in sys.argv
print("JOB_ID      ST   EC")
for i, _ in enumerate(open(os.path.join(state, "submitted"))):
    job_id = str(1001 + i)
    exit_file = os.path.join(state, job_id + ".exit")
    if ended and os.path.exists(exit_file):
        print(f"{{job_id}}    EXT  {{open(exit_file).read().strip()}}")
    elif not ended and not os.path.exists(exit_file):
        print(f"{{job_id}}    RUN  -")
'''


def test_jobs_run_through_the_fugaku_profile_with_stand_ins_for_pjm(tmp_path):
    bin_dir, state = tmp_path / "bin", tmp_path / "pjm"
    bin_dir.mkdir()
    state.mkdir()
    (state / "submitted").touch()
    for name, text in (("pjsub", PJSUB), ("pjstat", PJSTAT)):
        path = bin_dir / name
        path.write_text(text.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    work = tmp_path / "work"
    work.mkdir()
    (work / "data").symlink_to(REPO / "data")
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{venv_bin}{os.pathsep}{os.environ['PATH']}",
           "STANDIN_PJM_STATE": str(state), "HAGANE_STATUS_REFRESH_S": "2"}
    activate = tmp_path / "activate"  # what the job script sources first; here it leaves a mark
    activate.write_text(f'export PATH="{venv_bin}:$PATH"\necho activated >> "{state}/activated"\n')
    targets = ["results/collect/manuals_text/_packs/pack-00000.json", "results/collect/debian_web/_packs/pack-00000.json"]
    shards = ["results/collect/manuals_text/mew-manual-ja--skk-manual-ja/documents.jsonl.zst",
              "results/collect/debian_web/debian-docs/documents.jsonl.zst"]
    proc = subprocess.run([str(venv_bin / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(work), "--configfile", str(REPO / "config" / "demo.yaml"),
                           "--profile", str(REPO / "workflow" / "profiles" / "fugaku"),
                           "--default-resources", "nodes=1", "mem_mb=4000", "runtime=60", "pjm_group='hp990000'",
                           "pjm_rscgrp='small'", f"activate='{activate}'", "--latency-wait", "5", *targets],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    submitted = (state / "submitted").read_text().splitlines()
    assert len(submitted) == 2 and all(line.startswith("-N hagane.collect_documents -g hp990000 -L rscgrp=small")
                                       for line in submitted)
    assert (state / "activated").read_text().splitlines() == ["activated", "activated"]
    for target in targets + shards:
        assert (work / target).is_file()
    assert sorted(p.name for p in (work / "logs" / "cluster" / "collect_documents").iterdir()) == ["1001.out", "1002.out"]
    # Polls list all jobs at once: never more listings than polls (pairs of pjstat calls).
    calls = (state / "pjstat_calls").read_text().splitlines()
    assert len(calls) % 2 == 0 and sum("-H" in c for c in calls) == len(calls) // 2
