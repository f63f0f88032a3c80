rule tokenize_documents:
    input:
        docs="results/dedup/{source}/{part}/documents.jsonl.zst",
        model="results/tokenizer/spm.model",
    output:
        train_bin="results/tokenize/{source}/{part}/train.bin",
        train_idx="results/tokenize/{source}/{part}/train.idx.parquet",
        valid_bin="results/tokenize/{source}/{part}/valid.bin",
        valid_idx="results/tokenize/{source}/{part}/valid.idx.parquet",
        manifest="results/tokenize/{source}/{part}/_manifest.json",
    log:
        "logs/tokenize/{source}/{part}.log",
    benchmark:
        "benchmarks/tokenize/{source}/{part}.tsv"
    conda:
        "../envs/data.yaml"
    threads: config["tokenize"]["num_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cfg=section("tokenize"),
        split=section("split"),
        out_dir=out_dir,
    shell:
        "hagane tokenize encode --tokenize-json {params.cfg:q} --split-json {params.split:q} --documents {input.docs:q} --tokenizer {input.model:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
