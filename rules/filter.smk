# Scoring is expensive and runs once per shard; selecting is cheap and is the only step that reruns
# when a threshold changes (each rule's params hold only its own sub-section).


rule train_kenlm:
    input:
        docs=lambda w: collected_documents(KENLM_SOURCES),
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
        out_dir=out_dir,
    shell:
        "hagane filter kenlm --filter-json {params.cfg:q} --documents {input.docs:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule train_quality:
    input:
        positives=lambda w: collected_documents(QUALITY_SOURCES),
        negatives=lambda w: collected_documents(QUALITY_SOURCES, complement=True),
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
        out_dir=out_dir,
    shell:
        "hagane filter quality --filter-json {params.cfg:q} --positives {input.positives:q} --negatives {input.negatives:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule score_documents:
    input:
        docs="results/collect/{source}/{part}/documents.jsonl.zst",
        kenlm=kenlm_model,
        quality=quality_model,
        ng_words=config["filter"]["score"]["ng_words"],
    output:
        scores="results/filter/score/{source}/{part}/scores.parquet",
        manifest="results/filter/score/{source}/{part}/_manifest.json",
    log:
        "logs/filter/score/{source}/{part}.log",
    benchmark:
        "benchmarks/filter/score/{source}/{part}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=section("filter", "score", "kenlm", "quality"),
        models=model_options,
        out_dir=out_dir,
    shell:
        "hagane filter score --filter-json {params.cfg:q} --documents {input.docs:q} {params.models} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule filter_thresholds:
    input:
        scores=per_shard("results/filter/score/{shard}/scores.parquet"),
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
        out_dir=out_dir,
    shell:
        "hagane filter thresholds --filter-json {params.cfg:q} --scores {input.scores:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule select_documents:
    input:
        docs="results/collect/{source}/{part}/documents.jsonl.zst",
        scores="results/filter/score/{source}/{part}/scores.parquet",
        thresholds=corpus_thresholds,
    output:
        kept="results/filter/select/{source}/{part}/kept.jsonl.zst",
        dropped="results/filter/select/{source}/{part}/dropped.jsonl.zst",
        counts=report(
            "results/filter/select/{source}/{part}/counts.json",
            caption="../workflow/report/filter_counts.rst",
            category="Filter",
        ),
        manifest="results/filter/select/{source}/{part}/_manifest.json",
    log:
        "logs/filter/select/{source}/{part}.log",
    benchmark:
        "benchmarks/filter/select/{source}/{part}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=section("filter", "select"),
        thresholds=thresholds_option,
        out_dir=out_dir,
    shell:
        "hagane filter select --filter-json {params.cfg:q} --documents {input.docs:q} --scores {input.scores:q} {params.thresholds} --out-dir {params.out_dir:q} > {log:q} 2>&1"
