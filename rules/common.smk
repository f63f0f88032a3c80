# Paths and input functions only; logic worth a test lives in src/hagane/.
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from hagane.config import (
    band_groups,
    checkpoint_steps,
    section_json,
    source_shards,
    stage_config,
)
from hagane.packs import (
    pack_record,
    plan_file,
    plan_packs,
    read_packs,
    read_plan,
    record_bytes,
    write_plan,
    write_shard_list,
)
from hagane.resources import job_memory_mb, job_runtime_min
from hagane.filter.thresholds import needs_thresholds
from hagane.errors import HaganeError

# Packs (src/hagane/packs.py): each per-shard stage runs one job per pack of `shards_per_job` shards. The
# main Snakemake process finds the shards and writes the plan under results/plan/ (each file only when its
# content changes); a cluster job reads the plan instead of looking at every source file again, so its
# start-up does not grow with the corpus.
if workflow.remote_exec:
    PACKS = read_packs()
else:
    try:
        # {source name: {shard name: Shard(files, byte_range)}}
        SHARDS = source_shards(config)
        PACKS = plan_packs(SHARDS, config["shards_per_job"])
    except HaganeError as err:
        raise WorkflowError(f"invalid configuration: {err}") from None
    write_plan(SHARDS, PACKS)
SOURCES = list(dict.fromkeys(pack.source for pack in PACKS))


wildcard_constraints:
    source=r"[A-Za-z0-9_-]+",
    pack=r"pack-\d{5}",
    checkpoint=r"step_\d{7}",
    group=r"\d+",


def pack_plan(wildcards):
    return str(plan_file(f"{wildcards.source}/{wildcards.pack}"))


def pack_input_files(wildcards):
    """The raw files a collect pack reads, from its plan (the plan file is written before any job runs)."""
    plan = read_plan(pack_plan(wildcards))
    return [str(path) for shard in plan.shards for path in shard.files]


def per_pack(stage_root, sources=None, complement=False):
    """The pack records of a per-shard stage (results/filter/score, …), of some sources or all."""
    return [
        str(pack_record(stage_root, pack.id))
        for pack in PACKS
        if sources is None or (pack.source in sources) != complement
    ]


def shard_list(name, pattern, sources=None, complement=False):
    """A list file (results/plan/lists/NAME.txt) of `pattern` filled in for every shard, which a rule passes
    as `@FILE`: a command line that holds every shard would outgrow the kernel's limit at ~10^4 shards.
    """
    chosen = None
    if sources is not None:
        chosen = [s for s in SOURCES if (s in sources) != complement]
    return str(
        write_shard_list(PACKS, name, pattern, chosen, write=not workflow.remote_exec)
    )


def pack_resources(stage, upstream=None):
    """mem_mb and runtime of a pack job from the bytes its shards read (hagane.resources): `upstream` names
    the input holding the previous stage's pack record; without it (collect) the raw input files count.
    Both grow with each retry (attempt)."""

    def read_bytes(input):
        if upstream is None:
            sizes = [os.path.getsize(f) for f in input.files if os.path.exists(f)]
            return sum(sizes), max(sizes, default=0)
        return record_bytes(input[upstream])

    def mem_mb(wildcards, input, threads, attempt):
        return job_memory_mb(stage, *read_bytes(input), threads, attempt)

    def runtime(wildcards, input, threads, attempt):
        return job_runtime_min(stage, *read_bytes(input), threads, attempt)

    return mem_mb, runtime


KENLM_SOURCES = config["filter"]["kenlm"]["reference_sources"]
QUALITY_SOURCES = config["filter"]["quality"]["reference_sources"]
for key, names in [("kenlm", KENLM_SOURCES), ("quality", QUALITY_SOURCES)]:
    for name in names:
        if name not in SOURCES:
            raise WorkflowError(
                f"invalid configuration: filter.{key}.reference_sources names {name!r}, "
                f"which is not a collect source ({', '.join(SOURCES)})"
            )


def kenlm_model(wildcards):
    """The perplexity model the scores need, if any (filter.kenlm.reference_sources): the n-gram model and
    the segmenter description the scorer splits text by (results of older versions lack it: naming it
    here makes Snakemake retrain rather than fail in every score job)."""
    return (
        ["results/filter/kenlm/lm.binary", "results/filter/kenlm/segmenter.json"]
        if KENLM_SOURCES
        else []
    )


def quality_model(wildcards):
    """The quality classifier the scores need, if any (filter.quality.reference_sources)."""
    return ["results/filter/quality/model.bin"] if QUALITY_SOURCES else []


# A percentile bound (or the ccnet preset's buckets) needs the whole corpus's scores before any shard is
# selected: the filter_thresholds job turns them into absolute values once.
try:
    NEEDS_THRESHOLDS = needs_thresholds(
        stage_config("filter", config["filter"], origin="config").select
    )
except HaganeError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None
THRESHOLDS = "results/filter/thresholds/thresholds.json"


def corpus_thresholds(wildcards):
    return [THRESHOLDS] if NEEDS_THRESHOLDS else []


def thresholds_option(wildcards):
    return f"--thresholds {THRESHOLDS}" if NEEDS_THRESHOLDS else ""


def model_options(wildcards):
    """The score verb's options naming the models in use; paths need no quoting."""
    options = ["--kenlm results/filter/kenlm"] if KENLM_SOURCES else []
    options += ["--quality results/filter/quality"] if QUALITY_SOURCES else []
    return " ".join(options)


def source_json(wildcards):
    entry = next(
        s for s in config["collect"]["sources"] if s["name"] == wildcards.source
    )
    # The licence is metadata for the published cards: an edit to it must not rerun collection.
    entry = {key: value for key, value in entry.items() if key != "license"}
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def section(name, *keys):
    """The config section (or a sub-section, kept under its key) as canonical JSON, for params."""
    if not keys:
        return section_json(config, name)
    sub = {key: config[name][key] for key in keys}
    return json.dumps(sub, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def out_dir(wildcards, output):
    return str(Path(output.manifest).parent)


# dedup.near: the bands bucketed together in one job, and whether near dedup runs at all.
BAND_GROUPS = band_groups(config["dedup"]["near"])


def near_clusters(wildcards):
    if not config["dedup"]["near"]["enabled"]:
        return []
    return ["results/dedup/minhash/clusters/clusters.parquet"]


def final_checkpoint():
    return f"results/pretrain/checkpoints/step_{config['pretrain']['steps']:07d}"


# Every checkpoint the pretrain run keeps is converted and evaluated (pretrain.keep_last: the newest N).
CHECKPOINTS = [f"step_{step:07d}" for step in checkpoint_steps(config["pretrain"])]
FINAL = CHECKPOINTS[-1]
# The GGUF export of the final model, when convert.gguf asks for it.
GGUF = ["results/publish/gguf/model.gguf"] if config["convert"]["gguf"] else []
# The final corpus as a dataset directory (rules/publish.smk), unless publish.dataset.enabled is false.
DATASET = (
    ["results/publish/corpus/dataset"]
    if config["publish"]["dataset"]["enabled"]
    else []
)


# Stale success (src/hagane/audit/stale.py): Snakemake 9 does not rerun a job whose output is missing while
# every job made from it is up to date — after a failed or killed job, a plain rerun would say "Nothing to be
# done" over the old model. `rule all` also asks for every such missing output, so that its job and all that
# depends on it run again; one line per output says why. Worked out once, in the main process, when the DAG
# is built (a cluster job never builds `all`).
STALE_CHECK = {}


def stale_outputs(wildcards):
    if "outputs" not in STALE_CHECK:
        STALE_CHECK["outputs"] = []
        if not workflow.remote_exec:
            from hagane.audit.stale import find_stale, workflow_jobs

            targets = [
                str(f)
                for f in workflow.get_rule(workflow.default_target).input
                if not callable(f)
            ]
            jobs = workflow_jobs(
                workflow.rules,
                {
                    frozenset({"source", "pack"}): [
                        {"source": pack.source, "pack": pack.name} for pack in PACKS
                    ],
                    frozenset({"checkpoint"}): [{"checkpoint": c} for c in CHECKPOINTS],
                    frozenset({"group"}): [
                        {"group": str(g)} for g in range(len(BAND_GROUPS))
                    ],
                },
            )
            for stale in find_stale(targets, jobs):
                print(stale.line(), file=sys.stderr)
                STALE_CHECK["outputs"].append(stale.missing)
    return STALE_CHECK["outputs"]
