# Cleaning the selected text. PII redaction (src/hagane/redact.py) runs per pack of shards between
# selection and exact dedup, always: with pii.enabled false it copies the documents, so the chain keeps one
# shape and the manifest says redaction was off. Corpus-wide line dedup (src/hagane/dedup/lines.py) runs
# after exact dedup and before MinHash, only when line_dedup.enabled: line hashes per pack, the common
# lines per hash partition, then their removal per pack.
REDACT_RESOURCES = pack_resources("redact", upstream="kept")
# Line dedup reads exact dedup's shards, which have no pack records; the redacted pack's bytes stand in.
LINE_HASHES_RESOURCES = pack_resources("line_hashes", upstream="redacted")
LINES_RESOURCES = pack_resources("lines", upstream="redacted")
LINE_DEDUP = config["line_dedup"]["enabled"]
LINE_PARTITIONS = list(range(config["line_dedup"]["partitions"]))
LINE_COMMON = expand(
    "results/dedup/lines/count/{part}/common.npy", part=LINE_PARTITIONS
)

# Where MinHash and near dedup read their documents (rules/dedup.smk): line dedup's output when it is on.
NEAR_DOCUMENTS_ROOT = (
    "results/dedup/lines/remove" if LINE_DEDUP else "results/dedup/exact"
)
# What the corpus funnel adds from these stages; rules/report.smk and rules/publish.smk both use these two,
# so the plot and the published card count the same files.
CLEAN_FUNNEL_INPUTS = [
    *per_pack("results/redact"),
    *(per_pack("results/dedup/lines/remove") if LINE_DEDUP else []),
]
REDACT_COUNTS = shard_list("redact-counts", "results/redact/{shard}/counts.json")
CLEAN_FUNNEL_OPTIONS = f"--redact-counts @{REDACT_COUNTS}"
if LINE_DEDUP:
    LINE_DEDUP_COUNTS = shard_list(
        "line-dedup-counts", "results/dedup/lines/remove/{shard}/counts.json"
    )
    CLEAN_FUNNEL_OPTIONS = (
        f"{CLEAN_FUNNEL_OPTIONS} --line-dedup-counts @{LINE_DEDUP_COUNTS}"
    )


rule redact_documents:
    input:
        plan=pack_plan,
        kept="results/filter/select/{source}/_packs/{pack}.json",
    output:
        pack="results/redact/{source}/_packs/{pack}.json",
    log:
        "logs/redact/{source}/{pack}.log",
    benchmark:
        "benchmarks/redact/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=REDACT_RESOURCES[0],
        runtime=REDACT_RESOURCES[1],
    params:
        cfg=section("pii"),
    shell:
        "hagane pii redact --pii-json {params.cfg:q} --pack {input.plan:q} --documents-root results/filter/select --workers {threads} --record {output.pack:q} > {log:q} 2>&1"


rule hash_lines:
    input:
        plan=pack_plan,
        redacted="results/redact/{source}/_packs/{pack}.json",
        exact="results/dedup/exact/_manifest.json",
    output:
        pack="results/dedup/lines/hash/{source}/_packs/{pack}.json",
    log:
        "logs/dedup/lines/hash/{source}/{pack}.log",
    benchmark:
        "benchmarks/dedup/lines/hash/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=LINE_HASHES_RESOURCES[0],
        runtime=LINE_HASHES_RESOURCES[1],
    params:
        cfg=section("line_dedup"),
    shell:
        "hagane dedup line-hashes --line_dedup-json {params.cfg:q} --pack {input.plan:q} --documents-root results/dedup/exact --workers {threads} --record {output.pack:q} > {log:q} 2>&1"


rule count_lines:
    input:
        hashes=per_pack("results/dedup/lines/hash"),
    output:
        common="results/dedup/lines/count/{part}/common.npy",
        counts="results/dedup/lines/count/{part}/counts.json",
        manifest="results/dedup/lines/count/{part}/_manifest.json",
    log:
        "logs/dedup/lines/count/{part}.log",
    benchmark:
        "benchmarks/dedup/lines/count/{part}.tsv"
    wildcard_constraints:
        part=r"\d+",
    conda:
        "../envs/data.yaml"
    # A partition job reads one `partitions`-th of every shard's hash file (their bytes in the pack records).
    resources:
        mem_mb=lambda wildcards, input, attempt: job_memory_mb(
            "line_counts",
            sum(record_bytes(r)[0] for r in input.hashes) // len(LINE_PARTITIONS),
            sum(record_bytes(r)[0] for r in input.hashes) // len(LINE_PARTITIONS),
            1,
            attempt,
        ),
        runtime=lambda wildcards, input, attempt: job_runtime_min(
            "line_counts",
            sum(record_bytes(r)[0] for r in input.hashes) // len(LINE_PARTITIONS),
            sum(record_bytes(r)[0] for r in input.hashes) // len(LINE_PARTITIONS),
            1,
            attempt,
        ),
    params:
        cfg=section("line_dedup"),
        hashes=shard_list(
            "line-hashes", "results/dedup/lines/hash/{shard}/line_hashes.npy"
        ),
        out_dir=out_dir,
    shell:
        "hagane dedup line-counts --line_dedup-json {params.cfg:q} --hashes @{params.hashes:q} --partition {wildcards.part} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule remove_lines:
    input:
        plan=pack_plan,
        redacted="results/redact/{source}/_packs/{pack}.json",
        exact="results/dedup/exact/_manifest.json",
        common=LINE_COMMON,
    output:
        pack="results/dedup/lines/remove/{source}/_packs/{pack}.json",
    log:
        "logs/dedup/lines/remove/{source}/{pack}.log",
    benchmark:
        "benchmarks/dedup/lines/remove/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=LINES_RESOURCES[0],
        runtime=LINES_RESOURCES[1],
    params:
        cfg=section("line_dedup"),
    shell:
        "hagane dedup lines --line_dedup-json {params.cfg:q} --pack {input.plan:q} --documents-root results/dedup/exact --common {input.common:q} --workers {threads} --record {output.pack:q} > {log:q} 2>&1"
