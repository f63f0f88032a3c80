"""One config mechanism: YAML, validated against the JSON Schema, read into frozen dataclasses per stage.

The schema (`workflow/schemas/config.schema.yaml`) is the single source of defaults and of what keys
exist. Snakemake validates the whole file when the workflow loads; each `hagane` verb validates the
slice it is handed, so a stage run by hand is checked exactly as the workflow would check it.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import glob
import json
import os
import re
import types
import typing
from pathlib import Path

import jsonschema
import yaml

from hagane.errors import HaganeError
from hagane.multistream import multistream_index, split_multistream

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
MODEL_PRESETS_PATH = Path(__file__).resolve().parents[2] / "config" / "models.yaml"
# The Snakefile's own configfile, which every --configfile is merged over. It holds no settings (defaults
# come from the schema), so a user's file inherits nothing from the demo (config/demo.yaml).
BASE_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "config.yaml"
# The commented starting config that `hagane init` copies.
EXAMPLE_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


# ---------------------------------------------------------------------------------------- dataclasses

@dataclasses.dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    on_record_error: str
    max_record_mb: float
    group_mb: float
    paths: tuple[str, ...] = ()
    root: str | None = None
    separator: str | None = None
    japanese_precheck: bool | None = None
    precheck_min_hiragana: int | None = None
    text_field: str | None = None
    id_field: str | None = None
    dataset: str | None = None
    dataset_config: str | None = None
    split: str | None = None
    streaming: bool | None = None
    revision: str | None = None
    # Unicode normal form of every text: NFKC keeps voiced marks composed (が stays が); NFC; none.
    normalization: str = "NFKC"
    # An input file that is empty, cannot be opened, or is damaged past finding its next record: quarantined
    # (the job goes on, the funnel names the file) or the job fails naming it.
    on_file_error: str = "quarantine"
    # {id, link, files, attribution}: metadata for the published cards, never part of what collect is handed
    # (rules/common.smk leaves it out), so a licence edit reruns no data stage.
    license: dict | None = None


@dataclasses.dataclass(frozen=True)
class CollectConfig:
    sources: tuple[SourceConfig, ...]


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    langid_model: str
    ng_words: tuple[str, ...] = ()  # word-list files; empty: no NG-word columns
    word_metrics: bool = False  # FineWeb-2's word-level metrics over Sudachi words (hagane.filter.words)


@dataclasses.dataclass(frozen=True)
class SelectConfig:
    preset: str
    language: str
    min_language_score: float | None  # None: the preset's
    thresholds: dict  # {metric: {"min": …, "max": …}} on top of the preset's


@dataclasses.dataclass(frozen=True)
class KenLMConfig:
    reference_sources: tuple[str, ...]  # empty: no perplexity scoring
    order: int
    vocab_size: int
    seed: int
    tokenizer: str = "sentencepiece"  # or "sudachi"
    sudachi_mode: str = "C"


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    reference_sources: tuple[str, ...]  # empty: no quality classifier
    max_examples_per_class: int
    epochs: int
    lr: float
    dim: int
    word_ngrams: int
    seed: int
    buckets: int = 200000


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    score: ScoreConfig
    select: SelectConfig
    kenlm: KenLMConfig
    quality: QualityConfig


@dataclasses.dataclass(frozen=True)
class ExactDedupConfig:
    casefold: bool
    ignore_whitespace: bool


@dataclasses.dataclass(frozen=True)
class NearDedupConfig:
    enabled: bool = True
    ngram: int = 5
    normalize: bool = False
    bands: int = 14
    rows: int = 8
    seed: int = 1
    band_jobs: int = 1


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    exact: ExactDedupConfig
    near: NearDedupConfig = NearDedupConfig()


@dataclasses.dataclass(frozen=True)
class PiiConfig:
    """`pii`: personal information replaced by typed placeholders (hagane.pii) between selection and dedup."""

    enabled: bool = True
    kinds: tuple[str, ...] = ("email", "phone", "postal_code", "my_number", "card", "ipv4", "ipv6")

    def __post_init__(self):
        from hagane.pii import check_kinds  # the library's own check names an unknown kind and lists them all

        check_kinds(self.kinds)


@dataclasses.dataclass(frozen=True)
class LineDedupConfig:
    """`line_dedup`: lines found in at least `min_documents` documents of the corpus removed (hagane.dedup.lines)."""

    enabled: bool = False
    min_documents: int = 5
    min_line_chars: int = 5
    min_document_chars: int = 200
    partitions: int = 16


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    validation_fraction: float
    salt: str


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    model_type: str
    vocab_size: int
    character_coverage: float
    byte_fallback: bool
    split_digits: bool
    max_piece_length: int
    input_sentence_size: int
    seed: int
    num_threads: int
    add_dummy_prefix: bool = True
    allow_whitespace_only_pieces: bool = False
    split_by_whitespace: bool = True
    user_defined_symbols: tuple[str, ...] = ()
    special_tokens: tuple[str, ...] = ()
    reserved_tokens: int = 0
    source_ratios: dict[str, float] | None = None
    pretokenize: str = "none"
    sudachi_mode: str = "C"


@dataclasses.dataclass(frozen=True)
class TokenizeConfig:
    num_threads: int
    max_document_chars: int = 1_000_000


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A model preset from config/models.yaml with the keys the config overrides (see resolve_model)."""

    preset: str
    activation_checkpointing: bool
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    rope_theta: float
    norm_eps: float
    tie_embeddings: bool


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    model: ModelConfig
    seq_len: int
    global_batch_size: int
    steps: int
    lr: float
    min_lr: float
    warmup_steps: int
    weight_decay: float
    beta1: float
    beta2: float
    grad_clip: float
    seed: int
    nproc: int
    threads_per_rank: int
    checkpoint_every: int
    log_every: int
    micro_batch_size: int | None
    schedule: str
    decay_fraction: float
    parallelism: str
    precision: str
    compile: bool
    deterministic: bool
    backend: str
    validation_every: int
    validation_windows: int
    keep_last: int | None
    peak_flops: float | None
    init_from: str | None
    mixture: dict[str, float] | None = None


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    max_abs_diff: float
    gate_prompts: int
    gate_prompt_tokens: int
    max_shard_size: str | int = "5GB"
    model_name: str = "hagane-model"
    license: str | None = None
    gguf: bool = False
    # The licence beside `license` (hagane.convert.card.model_licence): metadata of the published card only,
    # kept out of the conversion's params so that editing it reruns no conversion.
    license_name: str | None = None
    license_link: str | None = None
    license_file: str | None = None


@dataclasses.dataclass(frozen=True)
class ContinuationConfig:
    choices: int = 4
    context_chars: int = 200
    continuation_chars: int = 100
    max_items: int = 500
    seed: int = 1


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    name: str
    path: str
    num_fewshot: int | None = None
    limit: int | None = None


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int
    seed: int = 1234
    continuation: ContinuationConfig = ContinuationConfig()
    tasks: tuple[TaskConfig, ...] = ()
    prompts: tuple[str, ...] = ()
    max_new_tokens: int = 48


STAGE_CONFIGS: dict[str, type] = {
    "collect": CollectConfig, "filter": FilterConfig, "dedup": DedupConfig, "split": SplitConfig,
    "tokenizer": TokenizerConfig, "tokenize": TokenizeConfig, "pretrain": PretrainConfig,
    "convert": ConvertConfig, "evaluate": EvaluateConfig, "pii": PiiConfig, "line_dedup": LineDedupConfig,
}


# ------------------------------------------------------------------------------------ schema handling

def _load_yaml(text: str):
    """yaml.safe_load through libyaml where PyYAML has it: every job reads the schema, and the pure-Python
    parser takes 0.1 s over it."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_schema() -> dict:
    if not SCHEMA_PATH.is_file():
        raise HaganeError(f"config schema not found at {SCHEMA_PATH}; install hagane from its repository "
                          "with `pip install -e .` (the workflow and the package live together)")
    return _load_yaml(SCHEMA_PATH.read_text(encoding="utf-8"))


def _validator_filling_defaults(schema: dict) -> jsonschema.protocols.Validator:
    base = jsonschema.validators.validator_for(schema)

    def fill_properties(validator, properties, instance, schema_node):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = json.loads(json.dumps(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema_node)

    return jsonschema.validators.extend(base, {"properties": fill_properties})(schema)


def _key_path(path: typing.Iterable) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: jsonschema.ValidationError, prefix: str) -> str:
    where = _key_path([*([prefix] if prefix else []), *error.absolute_path])
    if error.validator == "required" and not prefix and not error.absolute_path and "collect" not in error.instance:
        # What a plain `snakemake` without --configfile meets: the base config names no corpus.
        return ("collect.sources: no corpus configured. Write your own config with `hagane init my.yaml` and run "
                "`snakemake --configfile my.yaml`; the demo runs with `--configfile config/demo.yaml`")
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"unknown key {', '.join(repr(k) for k in extra)} in {where} (allowed: {allowed})"
    if error.validator == "not" and isinstance(error.instance, dict):
        # The schema's "these keys belong to other source types" rules: name the keys, not the schema.
        forbidden = {key for alt in error.validator_value.get("anyOf", [error.validator_value])
                     for key in alt.get("required", [])}
        present = sorted(forbidden & set(error.instance))
        if present:
            kind = error.instance.get("type")
            return f"{where}: {', '.join(repr(k) for k in present)} not used by {kind!r} sources"
    return f"{where}: {error.message}"


def validate(config: dict, *, origin: str, section: str | None = None) -> dict:
    """Validate (a section of) the config in place, filling schema defaults; raise naming the key.

    `origin` says where the config came from (a file path, or 'rule params'), for the message.
    """
    schema = load_schema()
    if section is not None:
        if section not in schema["properties"]:
            raise HaganeError(f"no config section {section!r}; sections: {', '.join(schema['properties'])}")
        schema = {**schema["properties"][section], "$defs": schema["$defs"], "$schema": schema["$schema"]}
    validator = _validator_filling_defaults(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    lines = [_describe(e, section or "") for e in errors] if errors else cross_field_problems(config, section)
    if lines:
        raise HaganeError(f"invalid configuration in {origin}:\n  " + "\n  ".join(lines))
    return config


# ------------------------------------------------------------------------------ cross-field checks
# Constraints between keys, which the schema cannot state. Each was found only by the job that uses the
# key (pretraining at start, selection after the expensive scoring) or not at all; here they stop the
# workflow when it loads, and `hagane config check`, one line per problem naming the keys.

def cross_field_problems(config: dict, section: str | None = None) -> list[str]:
    """The problems of a schema-valid config (defaults filled) or of one section of it. The checks that
    compare with `collect.sources` run on a whole config only."""
    def part(name: str) -> dict | None:
        return config if section == name else config.get(name) if section is None else None

    sources = [s["name"] for s in config["collect"]["sources"]] if section is None else None
    problems: list[str] = []
    if (pretrain := part("pretrain")) is not None:
        problems += _pretrain_problems(pretrain, sources)
    if (filter_section := part("filter")) is not None:
        problems += _filter_problems(filter_section, sources)
    if (tokenizer := part("tokenizer")) is not None:
        problems += _tokenizer_problems(tokenizer, sources)
    if (convert := part("convert")) is not None:
        problems += _convert_problems(convert)
    return problems


def _not_sources(key: str, names, sources: list[str]) -> list[str]:
    unknown = [n for n in names if n not in sources]
    return [f"{key} names {n!r}, which is not a collect source ({', '.join(sources)})" for n in unknown]


def _pretrain_problems(p: dict, sources: list[str] | None) -> list[str]:
    problems = []
    if p["min_lr"] > p["lr"]:
        problems.append(f"pretrain.min_lr {p['min_lr']} is above pretrain.lr {p['lr']}: the schedule decays from lr "
                        "down to min_lr; set min_lr at or below lr")
    if p["warmup_steps"] >= p["steps"]:
        problems.append(f"pretrain.warmup_steps {p['warmup_steps']} is not below pretrain.steps {p['steps']}: "
                        "training would end before the warmup does")
    # As hagane.pretrain.train.batch_plan splits a step, with the ranks the workflow starts (pretrain.nproc;
    # a profile's `tasks` for pretrain_model must equal it, and the job checks what it really gets).
    batch, ranks, micro = p["global_batch_size"], p["nproc"], p["micro_batch_size"]
    if batch % ranks:
        problems.append(f"pretrain.global_batch_size {batch} is not divisible by pretrain.nproc {ranks} (ranks)")
    elif micro is not None and micro < batch // ranks and (batch // ranks) % micro:
        problems.append(f"pretrain.global_batch_size {batch} is not divisible by pretrain.nproc {ranks} × "
                        f"pretrain.micro_batch_size {micro}: each rank's {batch // ranks} sequences per step must "
                        "be a whole number of micro batches")
    problems += _model_problems(p["model"])
    if sources is not None and p.get("mixture"):
        problems += _not_sources("pretrain.mixture", p["mixture"], sources)
        if all(p["mixture"].get(s, 1) == 0 for s in sources):
            problems.append("pretrain.mixture gives every collect source 0 epochs: nothing to train on")
    return problems


def _model_problems(model: dict) -> list[str]:
    """The shape rules of hagane.pretrain.model.ModelArgs.check, on the preset with the config's keys."""
    presets = model_presets()
    if model["preset"] not in presets:
        return [f"pretrain.model.preset {model['preset']!r} is not a preset of {MODEL_PRESETS_PATH.name} "
                f"(presets: {', '.join(presets)})"]
    shape = resolve_model(model)
    where = f"pretrain.model (preset {model['preset']} with the keys given beside it)"
    if shape["dim"] % shape["n_heads"]:
        return [f"{where}: dim {shape['dim']} is not divisible by n_heads {shape['n_heads']}"]
    if shape["n_heads"] % shape["n_kv_heads"]:
        return [f"{where}: n_heads {shape['n_heads']} is not a multiple of n_kv_heads {shape['n_kv_heads']}"]
    if (shape["dim"] // shape["n_heads"]) % 2:
        return [f"{where}: the head dimension dim / n_heads = {shape['dim'] // shape['n_heads']} must be even "
                "for rotary positions"]
    return []


# Score columns that exist only when their scorer is configured: (is it one of them, is that scorer on, what
# turns it on, whether the filter section alone decides it). The score step writes them under exactly these
# conditions (hagane.filter.score; presets.SCORED_ONLY_WITH says the same to a select job that finds one
# missing). The workflow scores kenlm_ppl and quality_prob when the reference sources are set, but a score
# verb run by hand when it is handed the model (--kenlm, --quality), which its filter section does not say:
# those two are checked on a whole config only.
_OPTIONAL_SCORERS = (
    (lambda m: m == "kenlm_ppl", lambda f: bool(f["kenlm"]["reference_sources"]),
     "kenlm_ppl is scored only with filter.kenlm.reference_sources, which is empty; name the sources whose documents "
     "train the perplexity model (clean text such as Japanese Wikipedia)", False),
    (lambda m: m == "quality_prob", lambda f: bool(f["quality"]["reference_sources"]),
     "quality_prob is scored only with filter.quality.reference_sources, which is empty; name the reference "
     "(positive) sources of the quality classifier", False),
    (lambda m: m.startswith("ng_word_"), lambda f: bool(f["score"]["ng_words"]),
     "ng_word_* are scored only with filter.score.ng_words, which is empty; give NG-word list files", True),
    # Word-level metrics cost a Sudachi analysis of every document, so they are scored only when asked for.
    (lambda m: m.startswith(("gopher_", "fineweb_")), lambda f: bool(f["score"]["word_metrics"]),
     "gopher_* and fineweb_* are scored only with filter.score.word_metrics: true (FineWeb-2's Gopher and FineWeb "
     "rules over Sudachi words), which is false; set it", True),
)


def _filter_problems(f: dict, sources: list[str] | None) -> list[str]:
    from hagane.filter.presets import resolve  # only where a filter section is checked: it loads numpy

    select = f["select"]
    try:
        bounds = resolve(select["preset"], select["thresholds"])
    except HaganeError as err:  # both kinds of bound on one side
        return [str(err)]
    problems = []
    # cc_net's perplexity buckets are counted from kenlm_ppl even where a config removes the preset's bound.
    needed = [*bounds, *(["kenlm_ppl"] if select["preset"] == "ccnet" and "kenlm_ppl" not in bounds else [])]
    by_user = {m for m, b in select["thresholds"].items() if any(v is not None for v in b.values())}
    for owns, configured, why, by_section in _OPTIONAL_SCORERS:
        missing = [m for m in needed if owns(m)]
        if not missing or configured(f) or not (by_section or sources is not None):
            continue
        for metric in (m for m in missing if m in by_user):
            problems.append(f"filter.select.thresholds: the bound on {metric} needs a column no scorer produces: "
                            f"{why}, or remove the bound")
        from_preset = [m for m in missing if m not in by_user]
        if from_preset:
            columns = from_preset[0] + (f" and {len(from_preset) - 1} more" if len(from_preset) > 1 else "")
            problems.append(f"filter.select: preset {select['preset']} bounds {columns}, which no scorer produces: "
                            f"{why}, or choose another preset")
    for metric, metric_bounds in bounds.items():
        for low, high in (("min", "max"), ("min_percentile", "max_percentile")):
            if low in metric_bounds and high in metric_bounds and metric_bounds[low] > metric_bounds[high]:
                problems.append(f"filter.select.thresholds.{metric}: {low} {metric_bounds[low]} is above {high} "
                                f"{metric_bounds[high]} (preset {select['preset']} and thresholds together): "
                                "every document would be dropped")
    if sources is not None:
        for key in ("kenlm", "quality"):
            problems += _not_sources(f"filter.{key}.reference_sources", f[key]["reference_sources"], sources)
        if f["quality"]["reference_sources"] and set(sources) <= set(f["quality"]["reference_sources"]):
            problems.append("filter.quality.reference_sources names every collect source: the classifier needs "
                            "another source's documents as its negatives")
    return problems


# hagane.tokenizer.train's fixed pieces (ids 0-3) and reserved-token names (by name here: that module
# loads SentencePiece; tests/unit/test_config_cross.py checks that they agree).
TOKENIZER_FIXED_PIECES = ("<unk>", "<s>", "</s>", "<pad>")
TOKENIZER_RESERVED = "<|reserved_{}|>"


def _tokenizer_problems(t: dict, sources: list[str] | None) -> list[str]:
    problems = []
    names = [*t["special_tokens"], *(TOKENIZER_RESERVED.format(i) for i in range(t["reserved_tokens"]))]
    taken = {*TOKENIZER_FIXED_PIECES, *t["user_defined_symbols"]}
    clashes = sorted({n for n in names if n in taken or names.count(n) > 1})
    if clashes:
        problems.append(f"tokenizer.special_tokens: {clashes} named twice (the fixed tokens are "
                        f"{list(TOKENIZER_FIXED_PIECES)}, tokenizer.user_defined_symbols {t['user_defined_symbols']}, "
                        f"reserved ones {TOKENIZER_RESERVED.format('N')})")
    fixed = len(TOKENIZER_FIXED_PIECES) + 256 * t["byte_fallback"] + len(names) + len(t["user_defined_symbols"])
    if t["vocab_size"] <= fixed:
        problems.append(f"tokenizer.vocab_size {t['vocab_size']} leaves no piece to learn: {fixed} are fixed (4 "
                        f"control pieces, {256 * t['byte_fallback']} byte pieces of tokenizer.byte_fallback, "
                        f"{len(names)} special and reserved tokens, {len(t['user_defined_symbols'])} user-defined symbols)")
    ratios = t.get("source_ratios")
    if ratios is not None:
        if all(r == 0 for r in ratios.values()):
            problems.append("tokenizer.source_ratios: every ratio is 0; nothing to train on")
        if sources is not None:
            problems += _not_sources("tokenizer.source_ratios", ratios, sources)
            unlisted = [s for s in sources if s not in ratios]
            if unlisted:
                problems.append(f"tokenizer.source_ratios has no ratio for collect source(s) {', '.join(unlisted)}; "
                                "give each one (0 leaves a source out)")
    return problems


# transformers' spelling of a size, as hagane.convert.export.parse_size reads it.
_SIZE = re.compile(r"\s*(\d+\.?\d*|\.\d+)\s*([KMG]i?B|B)\s*|\s*\d+\s*", re.IGNORECASE)


def _convert_problems(c: dict) -> list[str]:
    size = c["max_shard_size"]
    if (isinstance(size, int) and size < 1) or (isinstance(size, str) and not _SIZE.fullmatch(size)):
        return [f"convert.max_shard_size {size!r} is not a size such as 5GB, 500MB or 2GiB"]
    return []


def source_config(entry: dict, *, origin: str = "source") -> SourceConfig:
    """One `collect.sources` entry, validated with its defaults filled in."""
    entry = copy.deepcopy(entry)
    validate({"sources": [entry]}, origin=origin, section="collect")
    return build(SourceConfig, entry, f"source {entry.get('name')!r}")


def read_config_file(path: str | os.PathLike) -> dict:
    """One config file as it is written (no defaults, not validated); an empty file is {}."""
    path = Path(path)
    try:
        config = _load_yaml(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise HaganeError(f"cannot read config file {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise HaganeError(f"{path}: not valid YAML: {err}") from err
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise HaganeError(f"{path}: a config file is a mapping of sections (collect:, filter:, …), "
                          f"not a {type(config).__name__}")
    return config


def merge_config(base: dict, override: dict) -> dict:
    """`override` merged over `base` exactly as Snakemake merges a --configfile over the Snakefile's
    configfile (snakemake.utils.update_config): a mapping is merged key by key, recursively; anything else —
    a list such as collect.sources, a number, a null — replaces what was there. A new dict; neither argument
    changes."""
    merged = copy.deepcopy(base) if isinstance(base, collections.abc.Mapping) else {}
    for key, value in override.items():
        if isinstance(value, collections.abc.Mapping):
            merged[key] = merge_config(merged.get(key, {}), value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def effective_config(paths: typing.Sequence[str | os.PathLike], *, base: str | os.PathLike | None = BASE_CONFIG_PATH,
                     origin: str | None = None) -> dict:
    """The config the workflow runs with for `snakemake --configfile PATH…`: the files merged in order over
    `base` (the Snakefile's configfile; None: nothing), then validated with the schema's defaults filled."""
    config = read_config_file(base) if base is not None else {}
    for path in paths:
        config = merge_config(config, read_config_file(path))
    return validate(config, origin=origin or " + ".join(str(p) for p in paths))


def load_config_file(path: str | os.PathLike) -> dict:
    """A whole config file, as the workflow sees it with `--configfile PATH`."""
    return effective_config([path])


# --------------------------------------------------------------------------------- dataclass building

def build(cls: type, data: object, where: str):
    """Build a frozen dataclass (recursively) from validated data; unknown keys fail naming the key."""
    hints = typing.get_type_hints(cls)
    if not isinstance(data, dict):
        raise HaganeError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise HaganeError(f"unknown key {unknown[0]!r} in {where} (allowed: {', '.join(sorted(fields))})")
    kwargs = {}
    for name in fields & set(data):
        kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
    return cls(**kwargs)


def _convert(hint, value, where):
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    if origin is tuple:
        (item,) = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def stage_config(section: str, data: dict, *, origin: str):
    """Validate one section's slice and return its frozen dataclass."""
    validate(data, origin=origin, section=section)
    if section == "pretrain":
        data = {**data, "model": resolve_model(data["model"], origin=origin)}
    return build(STAGE_CONFIGS[section], data, section)


def band_groups(near: dict) -> list[list[int]]:
    """The bands of dedup.near split into band_jobs contiguous groups (no empty group)."""
    bands, jobs = near.get("bands", 20), min(near.get("band_jobs", 1), near.get("bands", 20))
    return [list(range(bands))[k * bands // jobs:(k + 1) * bands // jobs] for k in range(jobs)]


def checkpoint_steps(pretrain: dict) -> list[int]:
    """The steps whose checkpoints a finished pretrain run keeps (as train.py saves and prunes them):
    every multiple of checkpoint_every and the last step, the newest keep_last of them."""
    steps, every = pretrain["steps"], pretrain.get("checkpoint_every", 200)
    saved = sorted({*range(every, steps + 1, every), steps})
    keep = pretrain.get("keep_last")
    return saved[-keep:] if keep else saved


def model_presets() -> dict[str, dict]:
    return _load_yaml(MODEL_PRESETS_PATH.read_text(encoding="utf-8"))


def resolve_model(model: dict, *, origin: str = "config") -> dict:
    """`pretrain.model`: the named preset's keys, overridden by any key the config gives beside it."""
    presets = model_presets()
    name = model.get("preset", "debug")
    if name not in presets:
        raise HaganeError(f"{origin}: pretrain.model.preset {name!r} is not a preset of {MODEL_PRESETS_PATH} "
                          f"(presets: {', '.join(presets)})")
    return {**presets[name], **model, "preset": name}


def section_json(config: dict, section: str) -> str:
    """The section as canonical JSON: what a rule passes to its verb, and what Snakemake compares
    (params trigger) to decide that a changed section reruns its stage."""
    return json.dumps(config[section], sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------------------------------- sources

_GLOB_CHARS = re.compile(r"[*?\[]")


def static_root(pattern: str) -> Path:
    """The directory part of a pattern before its first wildcard: 'data/web/*/x.warc.gz' → data/web."""
    m = _GLOB_CHARS.search(pattern)
    head = pattern[:m.start()] if m else pattern
    return Path(os.path.dirname(head) or ".")


def source_files(source: SourceConfig | dict, *, index: int | None = None) -> dict[Path, Path]:
    """{file: root} for the files a source names, sorted; a pattern matching nothing fails naming the key.

    A file's root is the source's `root`, else the fixed directory part of the pattern that found it:
    ids and origin paths are relative to it, so adding files elsewhere never changes them.
    """
    src = source if isinstance(source, dict) else dataclasses.asdict(source)
    where = f"collect.sources[{index}]" if index is not None else f"source {src['name']!r}"
    files: dict[Path, Path] = {}
    for i, pattern in enumerate(src.get("paths") or ()):
        matches = sorted(glob.glob(pattern)) if _GLOB_CHARS.search(pattern) else [pattern]
        matches = [m for m in matches if os.path.isfile(m)]
        if not matches:
            raise HaganeError(f"{where}.paths[{i}]: {pattern!r} matches no file "
                              f"(relative to {os.getcwd()})")
        root = Path(src["root"]) if src.get("root") else static_root(pattern)
        for m in matches:
            files.setdefault(Path(m), root)
    return dict(sorted(files.items()))


def shard_name(path: Path, root: Path) -> str:
    """A readable, stable shard name from a file's path under its source root."""
    rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    name = str(rel)
    for suffix in (".gz", ".xz", ".bz2", ".zst"):
        name = name.removesuffix(suffix)
    for suffix in (".warc", ".wet", ".xml", ".txt", ".jsonl", ".json", ".parquet"):
        name = name.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# The one shard of a source read as a whole (a Hugging Face dataset named without `paths`).
WHOLE_DATASET = "all"


@dataclasses.dataclass(frozen=True)
class Shard:
    """What one collect job reads: input files in order, or one byte range of a multistream dump."""

    files: tuple[Path, ...]
    byte_range: tuple[int, int] | None = None
    # Each file's source root (ids and origin paths are relative to it), in the order of `files`.
    roots: tuple[Path, ...] = ()


def group_files(files: list[Path], target_bytes: int) -> list[list[Path]]:
    """Consecutive files (in sorted order) grouped up to `target_bytes` on disk; a larger file is alone.
    With a target of 0, every file is its own group."""
    groups: list[list[Path]] = []
    size = 0
    for f in files:
        f_size = f.stat().st_size
        if groups and target_bytes and size + f_size <= target_bytes:
            groups[-1].append(f)
            size += f_size
        else:
            groups.append([f])
            size = f_size
    return groups


def source_shards(config: dict) -> dict[str, dict[str, Shard]]:
    """{source name: {shard name: Shard}} for every configured source, checked.

    Each shard is one collect job: a group of consecutive input files of about `group_mb` on disk (a
    larger file is a shard alone), named after its first and last file. A Wikipedia multistream dump
    larger than `group_mb` with its index beside it is cut into byte ranges of page streams instead
    (shards `<dump>.p00000`, …). A Hugging Face dataset named without `paths` is one shard,
    WHOLE_DATASET, with no input file.
    """
    shards: dict[str, dict[str, Shard]] = {}
    for i, src in enumerate(config["collect"]["sources"]):
        if src["name"] in shards:
            raise HaganeError(f"collect.sources[{i}].name: {src['name']!r} is used twice; names must be unique")
        if src["type"] == "huggingface" and not src.get("paths"):
            shards[src["name"]] = {WHOLE_DATASET: Shard(())}
            continue
        target = int(src.get("group_mb", 0) * 1024 * 1024)
        roots = source_files(src, index=i)
        named: dict[str, Shard] = {}

        def add(name: str, shard: Shard) -> None:
            if name in named:
                raise HaganeError(f"collect.sources[{i}]: files {named[name].files[0]} and {shard.files[0]} map to "
                                  f"the same shard name {name!r}; set `root` or rename one")
            named[name] = shard

        for group in group_files(list(roots), target):
            first = shard_name(group[0], roots[group[0]])
            index = multistream_index(group[0]) if src["type"] == "wikipedia" and target else None
            if len(group) == 1 and index is not None and group[0].stat().st_size > target:
                for k, byte_range in enumerate(split_multistream(group[0], index, target)):
                    add(f"{first}.p{k:05d}", Shard((group[0],), byte_range, (roots[group[0]],)))
            elif len(group) == 1:
                add(first, Shard(tuple(group), None, (roots[group[0]],)))
            else:
                add(f"{first}--{shard_name(group[-1], roots[group[-1]])}",
                    Shard(tuple(group), None, tuple(roots[f] for f in group)))
        shards[src["name"]] = named
    return shards
