"""Planning at scale: `snakemake -n` over the demo plus 2,000 one-file shards named like Common Crawl's, with
the local profile and every site profile. A guard against planning that grows faster than the corpus (the
bounds are generous; benchmarks/plan_dry_run.py measures 10^4 and 10^5 shards), and each site's plan: one
submission per pack of its `shards_per_job`, with `threads` filling the node."""

import math
import re

import pytest
from scaleplan import build_workdir, dry_run

pytestmark = pytest.mark.slow
N_SHARDS = 2000
DEMO_PACKS = 2  # the demo's two sources, one pack each
PACK_RULES = ("collect_documents", "score_documents", "select_documents", "redact_documents", "minhash_signatures",
              "dedup_near", "tokenize_documents")
AGGREGATES = ("train_kenlm", "train_quality", "dedup_exact", "minhash_clusters", "train_tokenizer", "pretrain_model")
SITES = {  # profile: (shards_per_job, threads of a data-stage job)
    "local": (64, 1),
    "fugaku": (192, 48),
    "tsubame": (64, 16),
    "abci": (128, 32),
    "slurm": (64, 16),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale")
    build_workdir(path, N_SHARDS)
    return path


def test_planning_2000_shards_is_quick_and_no_command_holds_every_shard(workdir):
    plan = dry_run(workdir, "local", quiet=False)
    assert plan["returncode"] == 0, plan["output"][-3000:]
    # Measured here: ~5 s of CPU and ~190 MB (it was ~100 s and ~0.5 GB with one job per shard and stage).
    assert plan["cpu_s"] < 60 and plan["peak_mb"] < 1000, plan
    commands = re.findall(r"^Shell command: (.*)$", plan["output"], flags=re.M)
    assert len(commands) == plan["total_jobs"]
    # A Common-Crawl-like shard path is ~90 characters: 2,000 of them would be 180 kB.
    assert max(map(len, commands)) < 4000
    assert sum("@results/plan/lists/" in c for c in commands) >= 8


@pytest.mark.parametrize("site", sorted(SITES))
def test_each_site_submits_one_job_per_pack_that_fills_its_node(workdir, site):
    per_job, threads = SITES[site]
    plan = dry_run(workdir, site, quiet=False)
    assert plan["returncode"] == 0, plan["output"][-3000:]
    packs = math.ceil(N_SHARDS / per_job) + DEMO_PACKS
    for rule in PACK_RULES:
        assert plan["jobs"][rule] == packs, (site, rule, plan["jobs"])
    for rule in AGGREGATES:
        assert plan["jobs"][rule] == 1, (site, rule)
    assert plan["total_jobs"] < 2000 / 4  # TSUBAME caps a user at 2,000 queued and running jobs
    block = re.search(r"^rule score_documents:\n(.*?)^\S", plan["output"], flags=re.M | re.S).group(1)
    # Snakemake prints a job's threads when there are more than one.
    assert re.findall(r"^\s+threads: (\d+)$", block, flags=re.M) == ([str(threads)] if threads > 1 else []), block
