rule evaluate_perplexity:
    input:
        model="results/convert/model",
        valid=per_shard("results/tokenize/{shard}/valid.bin"),
    output:
        metrics=report(
            "results/evaluate/final/metrics.json",
            caption="../workflow/report/evaluate_metrics.rst",
            category="Evaluate",
        ),
        manifest="results/evaluate/final/_manifest.json",
    log:
        "logs/evaluate/final.log",
    benchmark:
        "benchmarks/evaluate/final.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        cfg=section("evaluate"),
        valid=per_shard("results/tokenize/{shard}/valid"),
        out_dir=out_dir,
    shell:
        "hagane evaluate perplexity --evaluate-json {params.cfg:q} --model {input.model:q} --valid {params.valid:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
