rule dedup_exact:
    input:
        kept=per_shard("results/filter/select/{shard}/kept.jsonl.zst"),
    output:
        docs=per_shard("results/dedup/{shard}/documents.jsonl.zst"),
        dropped="results/dedup/dropped.jsonl.zst",
        counts="results/dedup/counts.json",
        manifest="results/dedup/_manifest.json",
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
        cfg=section("dedup"),
        shards=dedup_shard_args,
        out_dir=out_dir,
    shell:
        "hagane dedup exact --dedup-json {params.cfg:q} --shards {params.shards} --out-dir {params.out_dir:q} > {log:q} 2>&1"
