# Exact duplicates first (one job over all shards), then near duplicates by MinHash: signatures per
# shard, candidate pairs per group of bands, clusters over all of them, and each shard's survivors.
# Each rule gets only its own sub-section, so a MinHash setting does not rerun exact dedup.


rule dedup_exact:
    input:
        kept=per_shard("results/filter/select/{shard}/kept.jsonl.zst"),
    output:
        docs=per_shard("results/dedup/exact/{shard}/documents.jsonl.zst"),
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
        shards=dedup_shard_args,
        out_dir=out_dir,
    shell:
        "hagane dedup exact --dedup-json {params.cfg:q} --shards {params.shards} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule minhash_signatures:
    input:
        docs="results/dedup/exact/{source}/{part}/documents.jsonl.zst",
    output:
        signatures="results/dedup/minhash/signatures/{source}/{part}/signatures.parquet",
        manifest="results/dedup/minhash/signatures/{source}/{part}/_manifest.json",
    log:
        "logs/dedup/minhash/signatures/{source}/{part}.log",
    benchmark:
        "benchmarks/dedup/minhash/signatures/{source}/{part}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cfg=section("dedup", "near"),
        out_dir=out_dir,
    shell:
        "hagane dedup signatures --dedup-json {params.cfg:q} --documents {input.docs:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule minhash_buckets:
    input:
        signatures=per_shard(
            "results/dedup/minhash/signatures/{shard}/signatures.parquet"
        ),
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
        bands=lambda wildcards: " ".join(map(str, BAND_GROUPS[int(wildcards.group)])),
        out_dir=out_dir,
    shell:
        "hagane dedup buckets --dedup-json {params.cfg:q} --signatures {input.signatures:q} --bands {params.bands} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule minhash_clusters:
    input:
        signatures=per_shard(
            "results/dedup/minhash/signatures/{shard}/signatures.parquet"
        ),
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
        signatures=lambda wildcards, input: " ".join(
            f"{shard}={path}" for shard, path in zip(SHARD_IDS, input.signatures)
        ),
        out_dir=out_dir,
    shell:
        "hagane dedup clusters --dedup-json {params.cfg:q} --signatures {params.signatures} --edges {input.edges:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule dedup_near:
    input:
        docs="results/dedup/exact/{source}/{part}/documents.jsonl.zst",
        clusters=near_clusters,
    output:
        docs="results/dedup/{source}/{part}/documents.jsonl.zst",
        dropped="results/dedup/{source}/{part}/dropped.jsonl.zst",
        counts="results/dedup/{source}/{part}/counts.json",
        manifest="results/dedup/{source}/{part}/_manifest.json",
    log:
        "logs/dedup/near/{source}/{part}.log",
    benchmark:
        "benchmarks/dedup/near/{source}/{part}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=section("dedup", "near"),
        clusters=lambda wildcards, input: (
            f"--clusters {input.clusters[0]}" if input.clusters else ""
        ),
        out_dir=out_dir,
    shell:
        "hagane dedup near --dedup-json {params.cfg:q} --shard {wildcards.source}/{wildcards.part} --documents {input.docs:q} {params.clusters} --out-dir {params.out_dir:q} > {log:q} 2>&1"
