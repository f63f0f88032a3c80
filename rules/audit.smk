# The last step: recompute every hash from the evaluation back to the raw sources.


rule verify_provenance:
    input:
        metrics="results/evaluate/final/metrics.json",
        manifests=[
            "results/evaluate/final/_manifest.json",
            "results/convert/_manifest.json",
            "results/pretrain/_manifest.json",
            "results/tokenizer/_manifest.json",
            "results/dedup/_manifest.json",
        ],
    output:
        "results/audit/verify.txt",
    log:
        "logs/audit/verify.log",
    benchmark:
        "benchmarks/audit/verify.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "hagane audit verify results > {output:q} 2> {log:q}"
