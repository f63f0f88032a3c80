# One job per pack of shards (src/hagane/packs.py): the job reads its shards from the plan and runs them on
# `threads` worker processes; each shard's documents land in results/collect/{source}/{shard}/.
COLLECT_RESOURCES = pack_resources("collect")


rule collect_documents:
    input:
        plan=pack_plan,
        files=pack_input_files,
    output:
        pack="results/collect/{source}/_packs/{pack}.json",
    log:
        "logs/collect/{source}/{pack}.log",
    benchmark:
        "benchmarks/collect/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=COLLECT_RESOURCES[0],
        runtime=COLLECT_RESOURCES[1],
    params:
        source=source_json,
    shell:
        "hagane collect run --source-json {params.source:q} --pack {input.plan:q} --workers {threads} --record {output.pack:q} > {log:q} 2>&1"
