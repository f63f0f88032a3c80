# Every kept checkpoint → a Hugging Face directory behind the logits gate; the final one is published
# with a model card that includes its evaluation, its licence and the training data's licences.

from hagane.convert.card import conversion_json, licence_files


rule convert_to_hf:
    input:
        # The pretrain job's output: once it exists, every kept checkpoint does (train.py writes them
        # in step order, whole or not at all); the one converted here is named in params.
        final=final_checkpoint(),
        tokenizer_dir="results/tokenizer/hf",
        spm="results/tokenizer/spm.model",
        tokenized=per_pack("results/tokenize"),
        pretrain_manifest="results/pretrain/_manifest.json",
        tokenizer_manifest="results/tokenizer/_manifest.json",
    output:
        model=directory("results/convert/{checkpoint}/model"),
        card="results/convert/{checkpoint}/card.json",
        manifest="results/convert/{checkpoint}/_manifest.json",
    log:
        "logs/convert/{checkpoint}.log",
    benchmark:
        "benchmarks/convert/{checkpoint}.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        # Without the licence keys (the published card's): a licence edit reruns no conversion.
        cfg=lambda wildcards: conversion_json(config["convert"]),
        checkpoint="results/pretrain/checkpoints/{checkpoint}",
        valid=shard_list("valid", "results/tokenize/{shard}/valid"),
        tokenize_manifests=shard_list(
            "tokenize-manifests", "results/tokenize/{shard}/_manifest.json"
        ),
        out_dir=out_dir,
    shell:
        "hagane convert hf --convert-json {params.cfg:q} --checkpoint {params.checkpoint:q} --tokenizer-dir {input.tokenizer_dir:q} --spm {input.spm:q} --valid @{params.valid:q} --pretrain-manifest {input.pretrain_manifest:q} --tokenize-manifests @{params.tokenize_manifests:q} --tokenizer-manifest {input.tokenizer_manifest:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule publish_model:
    input:
        model=f"results/convert/{FINAL}/model",
        card=f"results/convert/{FINAL}/card.json",
        evaluation=f"results/evaluate/{FINAL}/metrics.json",
        # Read beside the two above: the hash chain starts at the conversion's manifest, and the card states
        # the settings the evaluation ran with.
        convert_manifest=f"results/convert/{FINAL}/_manifest.json",
        evaluation_manifest=f"results/evaluate/{FINAL}/_manifest.json",
        licences=lambda wildcards: licence_files(config),
    output:
        model=directory("results/publish/model"),
        manifest="results/publish/_manifest.json",
    log:
        "logs/convert/publish.log",
    benchmark:
        "benchmarks/convert/publish.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # The model's licence (convert.license…) and the sources' licences: a licence edit reruns this alone.
        cfg=section("convert"),
        sources=section("collect"),
        out_dir=out_dir,
    shell:
        "hagane convert publish --convert-json {params.cfg:q} --collect-json {params.sources:q} --model {input.model:q} --card {input.card:q} --evaluation {input.evaluation:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule export_gguf:
    input:
        model=f"results/convert/{FINAL}/model",
        tokenized=per_pack("results/tokenize"),
    output:
        gguf="results/publish/gguf/model.gguf",
        manifest="results/publish/gguf/_manifest.json",
    log:
        "logs/convert/gguf.log",
    benchmark:
        "benchmarks/convert/gguf.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        cfg=lambda wildcards: conversion_json(config["convert"]),
        valid=shard_list("valid", "results/tokenize/{shard}/valid"),
        out_dir=out_dir,
    shell:
        "hagane convert gguf --convert-json {params.cfg:q} --model {input.model:q} --valid @{params.valid:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
