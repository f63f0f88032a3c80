# Hagane (鋼): raw Japanese text → evaluated language model. See README.md and config/README.md.
from snakemake.utils import min_version, validate

from hagane.config import validate as check_config

min_version("9.0")


configfile: "config/config.yaml"


# An unknown key, a wrong type or a missing required key stops the workflow here, before any job
# starts: first with one line per problem naming the key (hagane's check), then Snakemake's validate,
# which also fills the schema's defaults. Missing source files are caught in rules/common.smk.
check_config(
    config,
    origin="the workflow config (each --configfile merged over config/config.yaml, then --config)",
)
validate(config, "workflow/schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/collect.smk"
include: "rules/filter.smk"
include: "rules/clean.smk"
include: "rules/dedup.smk"
include: "rules/tokenizer.smk"
include: "rules/tokenize.smk"
include: "rules/pretrain.smk"
include: "rules/convert.smk"
include: "rules/evaluate.smk"
include: "rules/audit.smk"
include: "rules/report.smk"
include: "rules/publish.smk"


rule all:
    default_target: True
    input:
        "results/publish/model",
        "results/evaluate/summary.csv",
        "results/audit/verify.txt",
        "results/report/funnel.png",
        "results/report/training.png",
        "results/report/tokenizer.png",
        "results/report/evaluation.png",
        GGUF,
        DATASET,
        # Missing outputs that existing ones were made from (rules/common.smk): rebuilt, not skipped.
        stale_outputs,
