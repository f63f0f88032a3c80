# Exact duplicates first (one job over all shards, which it reads and writes through a list file), then
# near duplicates by MinHash: signatures per pack of shards, candidate pairs per group of bands, clusters
# over all of them, and each pack's survivors. Each rule gets only its own sub-section, so a MinHash
# setting does not rerun exact dedup.
SIGNATURES_RESOURCES = pack_resources("signatures", upstream="kept")
NEAR_RESOURCES = pack_resources("near", upstream="kept")


rule dedup_exact:
    input:
        # PII redaction's output (rules/clean.smk), which holds selection's kept documents.
        redacted=per_pack("results/redact"),
    output:
        # Each shard's survivors go to results/dedup/exact/{source}/{shard}/documents.jsonl.zst, listed in
        # the manifest: one declared output per shard would make Snakemake's records grow as shards².
        dropped="results/dedup/exact/dropped.jsonl.zst",
        counts="results/dedup/exact/counts.json",
        manifest="results/dedup/exact/_manifest.json",
    log:
        "logs/dedup/exact.log",
    benchmark:
        "benchmarks/dedup/exact.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cfg=section("dedup", "exact"),
        shards=shard_list(
            "exact-shards",
            "{shard}=results/redact/{shard}/documents.jsonl.zst:results/dedup/exact/{shard}/documents.jsonl.zst",
        ),
        out_dir=out_dir,
    shell:
        "hagane dedup exact --dedup-json {params.cfg:q} --shards @{params.shards:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule minhash_signatures:
    input:
        plan=pack_plan,
        kept="results/filter/select/{source}/_packs/{pack}.json",
        exact="results/dedup/exact/_manifest.json",
        # With line dedup on, MinHash reads its output (rules/clean.smk: NEAR_DOCUMENTS_ROOT).
        lines=(
            "results/dedup/lines/remove/{source}/_packs/{pack}.json"
            if LINE_DEDUP
            else []
        ),
    output:
        pack="results/dedup/minhash/signatures/{source}/_packs/{pack}.json",
    log:
        "logs/dedup/minhash/signatures/{source}/{pack}.log",
    benchmark:
        "benchmarks/dedup/minhash/signatures/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=SIGNATURES_RESOURCES[0],
        runtime=SIGNATURES_RESOURCES[1],
    params:
        cfg=section("dedup", "near"),
        documents=lambda wildcards: NEAR_DOCUMENTS_ROOT,
    shell:
        "hagane dedup signatures --dedup-json {params.cfg:q} --pack {input.plan:q} --documents-root {params.documents:q} --workers {threads} --record {output.pack:q} > {log:q} 2>&1"


rule minhash_buckets:
    input:
        signatures=per_pack("results/dedup/minhash/signatures"),
    output:
        edges="results/dedup/minhash/buckets/{group}/edges.npz",
        manifest="results/dedup/minhash/buckets/{group}/_manifest.json",
    log:
        "logs/dedup/minhash/buckets/{group}.log",
    benchmark:
        "benchmarks/dedup/minhash/buckets/{group}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        cfg=section("dedup", "near"),
        signatures=shard_list(
            "signatures",
            "results/dedup/minhash/signatures/{shard}/signatures.parquet",
        ),
        bands=lambda wildcards: " ".join(map(str, BAND_GROUPS[int(wildcards.group)])),
        out_dir=out_dir,
    shell:
        "hagane dedup buckets --dedup-json {params.cfg:q} --signatures @{params.signatures:q} --bands {params.bands} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule minhash_clusters:
    input:
        signatures=per_pack("results/dedup/minhash/signatures"),
        edges=expand(
            "results/dedup/minhash/buckets/{group}/edges.npz",
            group=range(len(BAND_GROUPS)),
        ),
    output:
        clusters="results/dedup/minhash/clusters/clusters.parquet",
        manifest="results/dedup/minhash/clusters/_manifest.json",
    log:
        "logs/dedup/minhash/clusters.log",
    benchmark:
        "benchmarks/dedup/minhash/clusters.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        cfg=section("dedup", "near"),
        signatures=shard_list(
            "named-signatures",
            "{shard}=results/dedup/minhash/signatures/{shard}/signatures.parquet",
        ),
        out_dir=out_dir,
    shell:
        "hagane dedup clusters --dedup-json {params.cfg:q} --signatures @{params.signatures:q} --edges {input.edges:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule dedup_near:
    input:
        plan=pack_plan,
        kept="results/filter/select/{source}/_packs/{pack}.json",
        exact="results/dedup/exact/_manifest.json",
        lines=(
            "results/dedup/lines/remove/{source}/_packs/{pack}.json"
            if LINE_DEDUP
            else []
        ),
        clusters=near_clusters,
    output:
        pack="results/dedup/{source}/_packs/{pack}.json",
    log:
        "logs/dedup/near/{source}/{pack}.log",
    benchmark:
        "benchmarks/dedup/near/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=NEAR_RESOURCES[0],
        runtime=NEAR_RESOURCES[1],
    params:
        cfg=section("dedup", "near"),
        documents=lambda wildcards: NEAR_DOCUMENTS_ROOT,
        clusters=lambda wildcards, input: (
            f"--clusters {input.clusters[0]}" if input.clusters else ""
        ),
    shell:
        "hagane dedup near --dedup-json {params.cfg:q} --pack {input.plan:q} --documents-root {params.documents:q} {params.clusters} --workers {threads} --record {output.pack:q} > {log:q} 2>&1"
