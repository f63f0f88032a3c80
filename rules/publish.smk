# The final corpus as a dataset directory (src/hagane/publish/dataset.py): one Parquet file per pack of
# near-dedup survivors, written by the pack jobs in parallel, then the folder to upload with its card,
# Croissant metadata and hash chain.
DATASET_PART_RESOURCES = pack_resources("dataset", upstream="near")


rule dataset_part:
    input:
        plan=pack_plan,
        near="results/dedup/{source}/_packs/{pack}.json",
    output:
        pack="results/publish/corpus/parts/{source}/_packs/{pack}.json",
    log:
        "logs/publish/dataset/{source}/{pack}.log",
    benchmark:
        "benchmarks/publish/dataset/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=DATASET_PART_RESOURCES[0],
        runtime=DATASET_PART_RESOURCES[1],
    shell:
        "hagane publish dataset-part --pack {input.plan:q} --documents-root results/dedup --record {output.pack:q} > {log:q} 2>&1"


rule publish_dataset:
    input:
        parts=per_pack("results/publish/corpus/parts"),
        packs="results/plan/packs.json",
        # What the corpus funnel is counted from, as for the funnel plot (rules/report.smk).
        collect=per_pack("results/collect"),
        select=per_pack("results/filter/select"),
        dedup="results/dedup/exact/counts.json",
        # PII redaction's and (when on) line dedup's counts: rules/clean.smk.
        clean=CLEAN_FUNNEL_INPUTS,
    output:
        dataset=directory("results/publish/corpus/dataset"),
        manifest="results/publish/corpus/_manifest.json",
    log:
        "logs/publish/dataset.log",
    benchmark:
        "benchmarks/publish/dataset.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=section("publish"),
        sources=section("collect"),
        settings=lambda wildcards: json.dumps(
            {
                key: config[key]
                for key in ("filter", "pii", "dedup", "line_dedup")
                if key in config
            },
            sort_keys=True,
            ensure_ascii=False,
        ),
        collect=shard_list(
            "collect-manifests", "results/collect/{shard}/_manifest.json"
        ),
        select=shard_list("select-counts", "results/filter/select/{shard}/counts.json"),
        near=shard_list("near-counts", "results/dedup/{shard}/counts.json"),
        clean=CLEAN_FUNNEL_OPTIONS,
        out_dir=out_dir,
    shell:
        "hagane publish dataset --packs {input.packs:q} --parts-root results/publish/corpus/parts --collect-manifests @{params.collect:q} --select-counts @{params.select:q} --dedup-counts {input.dedup:q} --near-counts @{params.near:q} {params.clean} --publish-json {params.cfg:q} --collect-json {params.sources:q} --settings-json {params.settings:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
