# The continuation task is built once from the held-out documents; every converted checkpoint is
# evaluated (held-out perplexity per source, lm-eval tasks, greedy generations); the summary puts them
# side by side against training tokens.


rule build_continuation_task:
    input:
        docs=per_pack("results/dedup"),
        tokenized=per_pack("results/tokenize"),
    output:
        continuation="results/evaluate/tasks/continuation.jsonl",
        manifest="results/evaluate/tasks/_manifest.json",
    log:
        "logs/evaluate/continuation_task.log",
    benchmark:
        "benchmarks/evaluate/continuation_task.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=section("evaluate"),
        docs=shard_list("documents", "results/dedup/{shard}/documents.jsonl.zst"),
        valid_idx=shard_list(
            "valid-index", "results/tokenize/{shard}/valid.idx.parquet"
        ),
        out_dir=out_dir,
    shell:
        "hagane evaluate continuation --evaluate-json {params.cfg:q} --documents @{params.docs:q} --valid-index @{params.valid_idx:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule evaluate_checkpoint:
    input:
        model="results/convert/{checkpoint}/model",
        tokenized=per_pack("results/tokenize"),
        continuation="results/evaluate/tasks/continuation.jsonl",
    output:
        metrics=report(
            "results/evaluate/{checkpoint}/metrics.json",
            caption="../workflow/report/evaluate_metrics.rst",
            category="Evaluate",
            subcategory="{checkpoint}",
        ),
        generations=report(
            "results/evaluate/{checkpoint}/generations.jsonl",
            caption="../workflow/report/generations.rst",
            category="Evaluate",
            subcategory="{checkpoint}",
        ),
        manifest="results/evaluate/{checkpoint}/_manifest.json",
    log:
        "logs/evaluate/{checkpoint}.log",
    benchmark:
        "benchmarks/evaluate/{checkpoint}.tsv"
    conda:
        "../envs/eval.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        cfg=section("evaluate"),
        step=lambda wildcards: int(wildcards.checkpoint.removeprefix("step_")),
        valid=shard_list("valid", "results/tokenize/{shard}/valid"),
        out_dir=out_dir,
    shell:
        "hagane evaluate model --evaluate-json {params.cfg:q} --model {input.model:q} --step {params.step} --valid @{params.valid:q} --continuation {input.continuation:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule summarize_evaluation:
    input:
        metrics=expand(
            "results/evaluate/{checkpoint}/metrics.json", checkpoint=CHECKPOINTS
        ),
        pretrain_metrics="results/pretrain/metrics.jsonl",
    output:
        json="results/evaluate/summary.json",
        csv=report(
            "results/evaluate/summary.csv",
            caption="../workflow/report/evaluate_summary.rst",
            category="Evaluate",
        ),
    log:
        "logs/evaluate/summary.log",
    benchmark:
        "benchmarks/evaluate/summary.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        out_dir=lambda wildcards, output: str(Path(output.json).parent),
    shell:
        "hagane evaluate summary --metrics {input.metrics:q} --pretrain-metrics {input.pretrain_metrics:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
