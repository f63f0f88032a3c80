# The last step: recompute every hash from the evaluations and the published model back to the raw sources.


rule verify_provenance:
    input:
        published="results/publish/model",
        gguf=GGUF,
        manifests=[
            "results/publish/_manifest.json",
            *expand(
                "results/evaluate/{checkpoint}/_manifest.json", checkpoint=CHECKPOINTS
            ),
            *expand(
                "results/convert/{checkpoint}/_manifest.json", checkpoint=CHECKPOINTS
            ),
            "results/evaluate/tasks/_manifest.json",
            "results/pretrain/_manifest.json",
            "results/tokenizer/_manifest.json",
            "results/dedup/exact/_manifest.json",
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
