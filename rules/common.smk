# Paths and input functions only; logic worth a test lives in src/hagane/.
import json
from pathlib import Path

from snakemake.exceptions import WorkflowError

from hagane.config import (
    band_groups,
    checkpoint_steps,
    section_json,
    source_shards,
    stage_config,
)
from hagane.filter.thresholds import needs_thresholds
from hagane.errors import HaganeError

try:
    # {source name: {shard name: Shard(files, byte_range)}}
    SHARDS = source_shards(config)
except HaganeError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

SHARD_IDS = [f"{source}/{part}" for source in SHARDS for part in SHARDS[source]]


wildcard_constraints:
    source=r"[A-Za-z0-9_-]+",
    part=r"[A-Za-z0-9_.-]+",
    checkpoint=r"step_\d{7}",
    group=r"\d+",


def collect_input(wildcards):
    return [str(path) for path in SHARDS[wildcards.source][wildcards.part].files]


def collect_byte_range(wildcards):
    """The option naming a multistream dump's byte range, or nothing: offsets need no quoting."""
    byte_range = SHARDS[wildcards.source][wildcards.part].byte_range
    return "" if byte_range is None else f"--byte-range {byte_range[0]}:{byte_range[1]}"


KENLM_SOURCES = config["filter"]["kenlm"]["reference_sources"]
QUALITY_SOURCES = config["filter"]["quality"]["reference_sources"]
for key, names in [("kenlm", KENLM_SOURCES), ("quality", QUALITY_SOURCES)]:
    for name in names:
        if name not in SHARDS:
            raise WorkflowError(
                f"invalid configuration: filter.{key}.reference_sources names {name!r}, "
                f"which is not a collect source ({', '.join(SHARDS)})"
            )


def collected_documents(sources, complement=False):
    """The collect outputs of `sources` (or, with `complement`, of every other source)."""
    chosen = [s for s in SHARDS if (s in sources) != complement]
    return [
        f"results/collect/{source}/{part}/documents.jsonl.zst"
        for source in chosen
        for part in SHARDS[source]
    ]


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
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def section(name, *keys):
    """The config section (or a sub-section, kept under its key) as canonical JSON, for params."""
    if not keys:
        return section_json(config, name)
    sub = {key: config[name][key] for key in keys}
    return json.dumps(sub, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def out_dir(wildcards, output):
    return str(Path(output.manifest).parent)


def per_shard(pattern):
    return [pattern.format(shard=shard) for shard in SHARD_IDS]


# dedup.near: the bands bucketed together in one job, and whether near dedup runs at all.
BAND_GROUPS = band_groups(config["dedup"]["near"])


def near_clusters(wildcards):
    if not config["dedup"]["near"]["enabled"]:
        return []
    return ["results/dedup/minhash/clusters/clusters.parquet"]


def dedup_shard_args(wildcards, input, output):
    pairs = zip(SHARD_IDS, input.kept, output.docs)
    return " ".join(f"{shard}={src}:{dst}" for shard, src, dst in pairs)


def final_checkpoint():
    return f"results/pretrain/checkpoints/step_{config['pretrain']['steps']:07d}"


# Every checkpoint the pretrain run keeps is converted and evaluated (pretrain.keep_last: the newest N).
CHECKPOINTS = [f"step_{step:07d}" for step in checkpoint_steps(config["pretrain"])]
FINAL = CHECKPOINTS[-1]
# The GGUF export of the final model, when convert.gguf asks for it.
GGUF = ["results/publish/gguf/model.gguf"] if config["convert"]["gguf"] else []
