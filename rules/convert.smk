rule convert_to_hf:
    input:
        checkpoint=final_checkpoint(),
        tokenizer_dir="results/tokenizer/hf",
        spm="results/tokenizer/spm.model",
        valid=per_shard("results/tokenize/{shard}/valid.bin"),
    output:
        model=directory("results/convert/model"),
        manifest="results/convert/_manifest.json",
    log:
        "logs/convert/hf.log",
    benchmark:
        "benchmarks/convert/hf.tsv"
    conda:
        "../envs/eval.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        cfg=section("convert"),
        valid=per_shard("results/tokenize/{shard}/valid"),
        out_dir=out_dir,
    shell:
        "hagane convert hf --convert-json {params.cfg:q} --checkpoint {input.checkpoint:q} --tokenizer-dir {input.tokenizer_dir:q} --spm {input.spm:q} --valid {params.valid:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
