rule pretrain_model:
    input:
        tokenized=per_pack("results/tokenize"),
        tokenizer="results/tokenizer/spm.model",
    output:
        checkpoint=directory(final_checkpoint()),
        metrics=report(
            "results/pretrain/metrics.jsonl",
            caption="../workflow/report/pretrain_metrics.rst",
            category="Pretrain",
        ),
        manifest="results/pretrain/_manifest.json",
    log:
        "logs/pretrain/train.log",
    benchmark:
        "benchmarks/pretrain/train.tsv"
    conda:
        "../envs/train.yaml"
    threads: config["pretrain"]["nproc"] * config["pretrain"]["threads_per_rank"]
    resources:
        tasks=config["pretrain"]["nproc"],
        cpus_per_task=config["pretrain"]["threads_per_rank"],
        # The launcher a cluster profile chooses (srun); empty locally, where the ranks start under
        # torchrun. Its name is `mpi` because that is what the Slurm executor plugin looks for.
        mpi="",
        mem_mb=8000,
        runtime=240,
    params:
        cfg=section("pretrain"),
        shards=shard_list("train", "results/tokenize/{shard}/train"),
        valid=shard_list("valid", "results/tokenize/{shard}/valid"),
        out_dir=out_dir,
    shell:
        "hagane pretrain train --pretrain-json {params.cfg:q} --ranks {resources.tasks} --threads-per-rank {resources.cpus_per_task} --launcher={resources.mpi} --shards @{params.shards:q} --valid-shards @{params.valid:q} --tokenizer {input.tokenizer:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
