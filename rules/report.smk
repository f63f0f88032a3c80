# Plots for `snakemake --report`: the corpus funnel, the tokenizer, the training curve and the evaluation
# of every checkpoint.


rule plot_funnel:
    input:
        collect=per_pack("results/collect"),
        select=per_pack("results/filter/select"),
        dedup="results/dedup/exact/counts.json",
        # PII redaction's and (when on) line dedup's counts: rules/clean.smk.
        clean=CLEAN_FUNNEL_INPUTS,
        near=per_pack("results/dedup"),
    output:
        plot=report(
            "results/report/funnel.png",
            caption="../workflow/report/funnel.rst",
            category="Corpus",
        ),
        counts="results/report/funnel.json",
    log:
        "logs/report/funnel.log",
    benchmark:
        "benchmarks/report/funnel.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        collect=shard_list(
            "collect-manifests", "results/collect/{shard}/_manifest.json"
        ),
        select=shard_list("select-counts", "results/filter/select/{shard}/counts.json"),
        near=shard_list("near-counts", "results/dedup/{shard}/counts.json"),
        clean=CLEAN_FUNNEL_OPTIONS,
    shell:
        "hagane report funnel --collect-manifests @{params.collect:q} --select-counts @{params.select:q} --dedup-counts {input.dedup:q} --near-counts @{params.near:q} {params.clean} --out {output.plot:q} > {log:q} 2>&1"


rule plot_tokenizer:
    input:
        report="results/tokenizer/report.json",
    output:
        report(
            "results/report/tokenizer.png",
            caption="../workflow/report/tokenizer.rst",
            category="Tokenizer",
        ),
    log:
        "logs/report/tokenizer.log",
    benchmark:
        "benchmarks/report/tokenizer.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "hagane report tokenizer --report {input.report:q} --out {output:q} > {log:q} 2>&1"


rule plot_training:
    input:
        metrics="results/pretrain/metrics.jsonl",
        evaluation=f"results/evaluate/{FINAL}/metrics.json",
    output:
        report(
            "results/report/training.png",
            caption="../workflow/report/training.rst",
            category="Pretrain",
        ),
    log:
        "logs/report/training.log",
    benchmark:
        "benchmarks/report/training.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "hagane report training --metrics {input.metrics:q} --evaluation {input.evaluation:q} --out {output:q} > {log:q} 2>&1"


rule plot_evaluation:
    input:
        summary="results/evaluate/summary.json",
    output:
        report(
            "results/report/evaluation.png",
            caption="../workflow/report/evaluation.rst",
            category="Evaluate",
        ),
    log:
        "logs/report/evaluation.log",
    benchmark:
        "benchmarks/report/evaluation.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "hagane report evaluation --summary {input.summary:q} --out {output:q} > {log:q} 2>&1"
