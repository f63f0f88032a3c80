rule collect_documents:
    input:
        collect_input,
    output:
        docs="results/collect/{source}/{part}/documents.jsonl.zst",
        quarantine="results/collect/{source}/{part}/quarantine.jsonl.zst",
        manifest="results/collect/{source}/{part}/_manifest.json",
    log:
        "logs/collect/{source}/{part}.log",
    benchmark:
        "benchmarks/collect/{source}/{part}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        source=source_json,
        byte_range=collect_byte_range,
        out_dir=out_dir,
    shell:
        "hagane collect run --source-json {params.source:q} --input {input:q} {params.byte_range} --out-dir {params.out_dir:q} > {log:q} 2>&1"
