rule train_tokenizer:
    input:
        packs=per_pack("results/dedup"),
    output:
        model="results/tokenizer/spm.model",
        vocab="results/tokenizer/spm.vocab",
        hf=directory("results/tokenizer/hf"),
        verification="results/tokenizer/verification.json",
        report="results/tokenizer/report.json",
        manifest="results/tokenizer/_manifest.json",
    log:
        "logs/tokenizer/train.log",
    benchmark:
        "benchmarks/tokenizer/train.tsv"
    conda:
        "../envs/data.yaml"
    threads: config["tokenizer"]["num_threads"]
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        cfg=section("tokenizer"),
        split=section("split"),
        docs=shard_list("documents", "results/dedup/{shard}/documents.jsonl.zst"),
        out_dir=out_dir,
    shell:
        "hagane tokenizer train --tokenizer-json {params.cfg:q} --split-json {params.split:q} --documents @{params.docs:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
