# The last step: recompute every hash from the evaluations and the published model and dataset back to the
# raw sources. It reads every end product it vouches for (the published model and its GGUF, the dataset, every converted checkpoint and
# its evaluation, the evaluation summary), so that the report is never older than what it describes: any of
# them made again makes the audit run again.


rule verify_provenance:
    input:
        published="results/publish/model",
        gguf=GGUF,
        gguf_manifest=(["results/publish/gguf/_manifest.json"] if GGUF else []),
        dataset=DATASET,
        dataset_manifest=(["results/publish/corpus/_manifest.json"] if DATASET else []),
        summary=["results/evaluate/summary.json", "results/evaluate/summary.csv"],
        evaluations=expand(
            "results/evaluate/{checkpoint}/{name}",
            checkpoint=CHECKPOINTS,
            name=["metrics.json", "generations.jsonl"],
        ),
        converted=expand(
            "results/convert/{checkpoint}/{name}",
            checkpoint=CHECKPOINTS,
            name=["model", "card.json"],
        ),
        pretrain_metrics="results/pretrain/metrics.jsonl",
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
