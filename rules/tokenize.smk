# One job per pack of shards; each shard's train/valid token shards land in results/tokenize/{source}/{shard}/.
TOKENIZE_RESOURCES = pack_resources("tokenize", upstream="docs")


rule tokenize_documents:
    input:
        plan=pack_plan,
        docs="results/dedup/{source}/_packs/{pack}.json",
        model="results/tokenizer/spm.model",
    output:
        pack="results/tokenize/{source}/_packs/{pack}.json",
    log:
        "logs/tokenize/{source}/{pack}.log",
    benchmark:
        "benchmarks/tokenize/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: config["tokenize"]["num_threads"]
    resources:
        mem_mb=TOKENIZE_RESOURCES[0],
        runtime=TOKENIZE_RESOURCES[1],
    params:
        cfg=section("tokenize"),
        split=section("split"),
    shell:
        "hagane tokenize encode --tokenize-json {params.cfg:q} --split-json {params.split:q} --pack {input.plan:q} --documents-root results/dedup --tokenizer {input.model:q} --workers {threads} --record {output.pack:q} > {log:q} 2>&1"
