# Scoring is expensive and runs once per shard; selecting is cheap and is the only step that reruns
# when a threshold changes (each rule's params hold only its own sub-section). Scoring and selecting run
# one job per pack of shards; training the models and the corpus thresholds read every shard through a
# list file (results/plan/lists/).
SCORE_RESOURCES = pack_resources("score", upstream="docs")
SELECT_RESOURCES = pack_resources("select", upstream="docs")


rule train_kenlm:
    input:
        packs=per_pack("results/collect", KENLM_SOURCES),
    output:
        # With SentencePiece units the directory also holds spm.model (in the manifest, not declared: Sudachi
        # units have none).
        lm="results/filter/kenlm/lm.binary",
        segmenter="results/filter/kenlm/segmenter.json",
        manifest="results/filter/kenlm/_manifest.json",
    log:
        "logs/filter/kenlm.log",
    benchmark:
        "benchmarks/filter/kenlm.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        cfg=section("filter", "kenlm"),
        docs=shard_list(
            "kenlm-documents",
            "results/collect/{shard}/documents.jsonl.zst",
            KENLM_SOURCES,
        ),
        out_dir=out_dir,
    shell:
        "hagane filter kenlm --filter-json {params.cfg:q} --documents @{params.docs:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule train_quality:
    input:
        packs=per_pack("results/collect"),
    output:
        model="results/filter/quality/model.bin",
        manifest="results/filter/quality/_manifest.json",
    log:
        "logs/filter/quality.log",
    benchmark:
        "benchmarks/filter/quality.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        cfg=section("filter", "quality"),
        positives=shard_list(
            "quality-positives",
            "results/collect/{shard}/documents.jsonl.zst",
            QUALITY_SOURCES,
        ),
        negatives=shard_list(
            "quality-negatives",
            "results/collect/{shard}/documents.jsonl.zst",
            QUALITY_SOURCES,
            complement=True,
        ),
        out_dir=out_dir,
    shell:
        "hagane filter quality --filter-json {params.cfg:q} --positives @{params.positives:q} --negatives @{params.negatives:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule score_documents:
    input:
        plan=pack_plan,
        docs="results/collect/{source}/_packs/{pack}.json",
        kenlm=kenlm_model,
        quality=quality_model,
        ng_words=config["filter"]["score"]["ng_words"],
    output:
        pack="results/filter/score/{source}/_packs/{pack}.json",
    log:
        "logs/filter/score/{source}/{pack}.log",
    benchmark:
        "benchmarks/filter/score/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=SCORE_RESOURCES[0],
        runtime=SCORE_RESOURCES[1],
    params:
        cfg=section("filter", "score", "kenlm", "quality"),
        models=model_options,
    shell:
        "hagane filter score --filter-json {params.cfg:q} --pack {input.plan:q} --documents-root results/collect {params.models} --workers {threads} --record {output.pack:q} > {log:q} 2>&1"


rule filter_thresholds:
    input:
        packs=per_pack("results/filter/score"),
    output:
        thresholds=THRESHOLDS,
        manifest="results/filter/thresholds/_manifest.json",
    log:
        "logs/filter/thresholds.log",
    benchmark:
        "benchmarks/filter/thresholds.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=section("filter", "select"),
        scores=shard_list("scores", "results/filter/score/{shard}/scores.parquet"),
        out_dir=out_dir,
    shell:
        "hagane filter thresholds --filter-json {params.cfg:q} --scores @{params.scores:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule select_documents:
    input:
        plan=pack_plan,
        docs="results/collect/{source}/_packs/{pack}.json",
        scores="results/filter/score/{source}/_packs/{pack}.json",
        thresholds=corpus_thresholds,
    output:
        pack="results/filter/select/{source}/_packs/{pack}.json",
    log:
        "logs/filter/select/{source}/{pack}.log",
    benchmark:
        "benchmarks/filter/select/{source}/{pack}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=SELECT_RESOURCES[0],
        runtime=SELECT_RESOURCES[1],
    params:
        cfg=section("filter", "select"),
        thresholds=thresholds_option,
    shell:
        "hagane filter select --filter-json {params.cfg:q} --pack {input.plan:q} --documents-root results/collect --scores-root results/filter/score {params.thresholds} --workers {threads} --record {output.pack:q} > {log:q} 2>&1"
