# Hagane (鋼): raw Japanese text → evaluated language model. See README.md and config/README.md.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


# Fills the schema's defaults into `config`; an unknown key, a wrong type or a missing required key
# stops the workflow here, before any job starts. Missing source files are caught in rules/common.smk.
validate(config, "workflow/schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/collect.smk"
include: "rules/filter.smk"
include: "rules/dedup.smk"
include: "rules/tokenizer.smk"
include: "rules/tokenize.smk"
include: "rules/pretrain.smk"
include: "rules/convert.smk"
include: "rules/evaluate.smk"
include: "rules/audit.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        "results/evaluate/final/metrics.json",
        "results/audit/verify.txt",
        "results/report/funnel.png",
        "results/report/training.png",
