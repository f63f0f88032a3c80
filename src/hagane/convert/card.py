"""The model card (`README.md` of a Hugging Face model directory): provenance that travels with the model.

Every fact comes from the manifests of the stages that made the model — the training data by source with
document and token counts, the hash of the pretrain manifest (which lists every training shard with its
sha256), the training and tokenizer configuration, the machine it was trained on, the code version — and,
in the published folder, the model's licence, the training data's licences and the evaluation.

The published card is rendered from the folder's `card.json` alone and names only files inside the folder:
a downloader has the card, the facts it was made from, the licence texts and `provenance.json` (every
file's sha256 and the chain of manifests' sha256 back to the raw files), and needs nothing else.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from hagane.errors import HaganeError
from hagane.io import sha256_file

LICENSE_FILE = "LICENSE"
LICENCES_DIR = "LICENSES"
PROVENANCE = "provenance.json"
GITIGNORE = ".gitignore"
# Snakemake writes this empty marker into a directory() output after the job has finished, so the job
# cannot leave it out: the folder's .gitignore names it (git and the Hub's uploads honour that file).
SNAKEMAKE_MARKER = ".snakemake_timestamp"
# Below this size a language model writes text that looks Japanese but carries little meaning.
DEMO_PARAMETERS = 100_000_000


def training_provenance(pretrain_manifest: Path, tokenize_manifests: list[Path], tokenizer_manifest: Path) -> dict:
    """The facts a model card states, from the manifests (tokenize manifests lie at
    results/tokenize/<source>/<part>/_manifest.json)."""
    pretrain = json.loads(Path(pretrain_manifest).read_text())
    tokenizer = json.loads(Path(tokenizer_manifest).read_text())
    sources: dict[str, dict] = {}
    shards, split = [], None
    for path in sorted(map(Path, tokenize_manifests)):
        manifest = json.loads(path.read_text())
        counts = manifest["counts"]
        split = split or manifest.get("config", {}).get("split")
        shards.append(f"{path.parent.parent.name}/{path.parent.name}")
        entry = sources.setdefault(path.parent.parent.name, {"shards": 0, "documents": 0, "tokens": 0})
        entry["shards"] += 1
        entry["documents"] += counts["train"]["documents"]
        entry["tokens"] += counts["train"]["tokens"]
    env = pretrain.get("environment", {})
    return {
        "data": {"pretrain_manifest": str(pretrain_manifest), "pretrain_manifest_sha256": sha256_file(pretrain_manifest),
                 "tokenizer_manifest": str(tokenizer_manifest), "tokenizer_manifest_sha256": sha256_file(tokenizer_manifest),
                 "sources": sources, "training_shards": sum(s["shards"] for s in sources.values()), "shards": shards,
                 **({"split": split} if split else {})},
        "training": {**pretrain["config"]["pretrain"], "world_size": pretrain["counts"]["world_size"],
                     "precision": pretrain["counts"]["precision"]},
        "tokens_per_step": pretrain["counts"]["tokens"] // max(pretrain["counts"]["steps"], 1),
        "tokenizer": {**tokenizer["config"].get("tokenizer", {}), "counts": tokenizer.get("counts", {})},
        # What a bit-identical rerun of training needs the same of (the host name is left out: private).
        "environment": {"platform": env.get("platform"), "python": env.get("python"),
                        "torch": env.get("packages", {}).get("torch")},
        "code": pretrain["code"],
    }


# ------------------------------------------------------------------------------------------- licences

# The convert keys that only the published card reads. The conversion rules' params leave them out, so that a
# licence edit reruns publish_model alone, not every conversion and evaluation (as the collect rule's params
# leave out the sources' licences).
CARD_ONLY_KEYS = ("license", "license_name", "license_link", "license_file")


def conversion_json(convert: dict) -> str:
    """The convert section without the card's keys, as canonical JSON: the conversion rules' params."""
    settings = {k: v for k, v in convert.items() if k not in CARD_ONLY_KEYS}
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def licence_files(config: dict) -> list[str]:
    """Every licence text the published model folder gets (the model's and those the sources name): the
    publish rule's inputs, so that an edited text is published again."""
    files = [config["convert"].get("license_file")]
    files += [f for s in config["collect"]["sources"] for f in (s.get("license") or {}).get("files") or ()]
    return sorted({f for f in files if f})


def model_licence(cfg) -> dict:
    """The model's licence as the card states it, from the convert section (ConvertConfig or None).

    Hugging Face reads `license` from its list of ids (apache-2.0, mit, cc-by-4.0, …: SPDX ids in lower
    case); any other licence is `other` with `license_name` and `license_link`, which may name a file in the
    repository. With nothing declared the metadata says `unknown` and the card says so in words."""
    if cfg is None:
        return {"declared": False, "license": "unknown"}
    file = LICENSE_FILE if cfg.license_file else None
    if cfg.license not in (None, "other"):
        return {"declared": True, "license": cfg.license.lower(), "license_link": cfg.license_link or file,
                "file": file}
    if cfg.license_name is None and cfg.license_link is None and file is None:
        if cfg.license == "other":
            raise HaganeError("convert.license is 'other': name the licence (convert.license_name) and say where its "
                              "text is (convert.license_link or convert.license_file)")
        return {"declared": False, "license": "unknown"}
    if cfg.license_name is None:
        raise HaganeError("convert.license_link or convert.license_file is set but not convert.license_name: a licence "
                          "outside Hugging Face's list (license: other) needs its short name, such as my-license-1.0")
    if not (cfg.license_link or file):
        raise HaganeError(f"convert.license_name {cfg.license_name!r} needs convert.license_link (a URL) or "
                          "convert.license_file (its text, copied into the folder as LICENSE)")
    return {"declared": True, "license": "other", "license_name": cfg.license_name,
            "license_link": cfg.license_link or file, "file": file}


def source_licences(sources) -> list[dict]:
    """Each configured source (SourceConfig or its dict) as the card lists it: name, type, and its
    `license` entry's id, link, files and attribution (None where not declared)."""
    out = []
    for source in sources:
        s = dataclasses.asdict(source) if dataclasses.is_dataclass(source) else dict(source)
        licence = s.get("license") or {}
        out.append({"name": s["name"], "type": s.get("type"), "license": licence.get("id"),
                    "license_link": licence.get("link"), "license_files": list(licence.get("files") or []),
                    "attribution": licence.get("attribution")})
    return out


# ----------------------------------------------------------------------------------------- evaluation

def evaluation_facts(metrics: dict, manifest: dict | None = None) -> dict:
    """What the card says about an evaluation (metrics.json, and its manifest for the settings): the held-out
    set described, each task's results apart from its settings (shots, items, chance level)."""
    held = metrics["held_out"]
    figures = ("loss_nats_per_token", "perplexity", "bits_per_char", "bits_per_byte", "unigram_entropy_nats_per_token")
    sizes = {"documents": "validation_documents", "tokens": "validation_tokens", "characters": "validation_chars",
             "bytes": "validation_bytes"}

    def described(m: dict) -> dict:
        return {**{k: m[v] for k, v in sizes.items() if v in m}, **{k: m[k] for k in figures if k in m}}

    config = (manifest or {}).get("config", {}).get("evaluate", {})
    limits = {t["name"]: t.get("limit") for t in config.get("tasks", [])}
    tasks = {}
    for task, values in metrics["tasks"].items():
        # lm-eval reports its settings beside the scores: they are what the task was, not how the model did.
        settings = {"items": values.get("samples"), "num_fewshot": values.get("num_fewshot"),
                    "chance": values.get("chance"), "limit": limits.get(task)}
        results = {k: v for k, v in values.items()
                   if k not in ("samples", "num_fewshot", "chance", "sample_len") and not k.endswith("_stderr")}
        stderr = {k.removesuffix("_stderr"): v for k, v in values.items() if k.endswith("_stderr")}
        tasks[task] = {"results": results, "stderr": stderr,
                       "settings": {k: v for k, v in settings.items() if v is not None}}
    out = {"step": metrics["step"],
           "held_out": {**described(held), "context_length": held.get("context_length"),
                        "by_source": {s: described(m) for s, m in held.get("by_source", {}).items()}},
           "tasks": tasks}
    if "continuation" in config:
        out["continuation"] = config["continuation"]
    return out


# ------------------------------------------------------------------------------------------ rendering

def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def _header(facts: dict) -> list[str]:
    licence = facts.get("licence")
    lines = ["---", "language:\n- ja"]
    if licence:
        lines.append(f"license: {licence['license']}")
        if licence["license"] == "other":
            lines += [f"license_name: {licence['license_name']}", f"license_link: {licence['license_link']}"]
    return [*lines, "library_name: transformers", "pipeline_tag: text-generation", "tags:\n- hagane\n- llama", "---"]


def _tokens_trained(facts: dict) -> int | None:
    return facts["step"] * facts["tokens_per_step"] if "tokens_per_step" in facts else None


def _summary(facts: dict) -> list[str]:
    step, training, tokens = facts["step"], facts.get("training", {}), _tokens_trained(facts)
    return [f"A {facts['parameters']:,}-parameter decoder-only language model (Llama architecture), trained from "
            f"scratch with Hagane on Japanese text: checkpoint at step {step:,}"
            + (f" of {training['steps']:,}" if "steps" in training else "")
            + (f", {tokens:,} training tokens seen." if tokens is not None else "."), ""]


def _intended_use(facts: dict) -> list[str]:
    a, tokens = facts["model_args"], _tokens_trained(facts)
    params = facts["parameters"]
    size = f"{params:,} parameters" + (f", trained on {tokens:,} tokens ({tokens / params:.2g} tokens per "
                                       "parameter)," if tokens else "")
    lines = ["## Intended use and limitations", "",
             f"- **What it is**: a base model of {size} that continues Japanese text, with a context of "
             f"{a['max_seq_len']:,} tokens (longer inputs must be cut; the tokenizer's `model_max_length` says so). "
             "It was not instruction-tuned, chat-tuned or aligned with human preferences: it has no chat template "
             "and does not follow instructions or answer questions."]
    if params < DEMO_PARAMETERS:
        lines.append(f"- **A demonstration**: at {params / 1e6:.3g} M parameters it writes text that looks Japanese "
                     "but carries little meaning. It is for testing the workflow and the tools that load it, and for "
                     "study; do not use it where the content of its output matters.")
    lines += ["- **Japanese only**: trained on the Japanese sources listed under Training data; other languages, "
              "code and formulas appear only as far as those documents quote them.",
              "- **What it knows** is the register, topics and errors of those sources. The training data was "
              "filtered for language and quality, not for truth or harm: outputs can be false or offensive and "
              "must not be relied on.", ""]
    return lines


def _licence_section(facts: dict) -> list[str]:
    licence = facts.get("licence")
    if licence is None:  # an intermediate conversion: the published card states it
        return ["## Licence", "", "Not stated in this intermediate directory: `hagane convert publish` adds the "
                "model's licence (`convert.license…`) and the training data's licences to the published card.", ""]
    lines = ["## Licence", ""]
    if not licence["declared"]:
        lines.append("**No licence was declared for this model** (`license: unknown`): the person who trained it did "
                     "not state on what terms it may be used. Ask them before using or redistributing it.")
    elif licence["license"] == "other":
        lines.append(f"`{licence['license_name']}`: see [{licence['license_link']}]({licence['license_link']}).")
    else:
        target = licence.get("license_link")
        lines.append(f"`{licence['license']}`" + (f": see [{target}]({target})." if target else "."))
    if licence.get("file") and licence.get("license_link") != licence["file"]:
        lines.append(f"The licence text is in [{licence['file']}]({licence['file']}).")
    lines += ["", "The model was trained on the texts listed under Training data, each under its own licence. "
              "Whether a model's weights are bound by the licences of its training texts is not settled; check "
              "them against your use.", ""]
    return lines


def _licence_cell(source: dict) -> str:
    text = source.get("license") or "not declared"
    if source.get("license_link"):
        text = f"[{text}]({source['license_link']})"
    files = source.get("license_files") or []
    return text + (" (" + ", ".join(f"[{Path(f).name}]({f})" for f in files) + ")" if files else "")


def _training_data(facts: dict) -> list[str]:
    data = facts["data"]
    licences = {s["name"]: s for s in facts.get("sources") or []}
    header = ["source", "documents", "tokens", "shards"]
    if licences:
        header += ["licence", "attribution"]
    rows = []
    for name, s in data["sources"].items():
        row = [name, f"{s['documents']:,}", f"{s['tokens']:,}", s["shards"]]
        if licences:
            entry = licences.get(name, {})
            row += [_licence_cell(entry), entry.get("attribution") or "—"]
        rows.append(row)
    total = [sum(s[k] for s in data["sources"].values()) for k in ("documents", "tokens", "shards")]
    rows.append(["**total**", f"{total[0]:,}", f"{total[1]:,}", total[2], *(["", ""] if licences else [])])
    lines = ["## Training data", "", _table(header, rows), ""]
    if licences:
        lines += ["Documents and tokens are those of the training split (the held-out documents apart). The "
                  "licences are as the training configuration declares them (`sources[].license`); Hagane does "
                  f"not check them. Licence texts the sources name are in `{LICENCES_DIR}/`.", ""]
    lines += [f"The training shards, each with its sha256, are listed in the pretrain manifest (sha256 "
              f"`{data['pretrain_manifest_sha256']}`); the chain from it back to the raw files is in "
              f"`{PROVENANCE}`.", ""]
    return lines


def _evaluation(facts: dict) -> list[str]:
    evaluation = facts.get("evaluation")
    if not evaluation:
        return ["## Evaluation", "", "Not evaluated in this directory: the evaluation of this checkpoint is in "
                f"`results/evaluate/step_{facts['step']:07d}/`, and the published card includes it.", ""]
    held = evaluation["held_out"]
    split = facts.get("data", {}).get("split")
    how = (f" (`split.validation_fraction` {split['validation_fraction']} of each source's documents, chosen by a "
           "salted hash of the document id)" if split else "")
    lines = ["## Evaluation", "",
             f"**Held-out text.** {held.get('documents', '?'):,} documents ({held.get('tokens', 0):,} tokens, "
             f"{held.get('characters', 0):,} characters) that the data split kept out of training{how}. They come "
             "from the same sources as the training data, so these figures measure fit to those sources, not "
             "Japanese in general. Loss is over windows of "
             f"{held.get('context_length') or facts['model_args']['max_seq_len']:,} tokens; bits per character and "
             "per byte divide the same total by the text's characters and UTF-8 bytes, so tokenizers can be "
             "compared.", ""]
    columns = [("all", held), *held.get("by_source", {}).items()]
    names = {"documents": "documents", "tokens": "tokens", "characters": "characters",
             "loss_nats_per_token": "loss (nats/token)", "perplexity": "perplexity", "bits_per_char": "bits/character",
             "bits_per_byte": "bits/byte", "unigram_entropy_nats_per_token": "unigram entropy (nats/token)"}
    rows = [[label, *(_number(c.get(key, "—")) for _, c in columns)] for key, label in names.items()
            if any(key in c for _, c in columns)]
    lines += [_table(["held-out", *(name for name, _ in columns)], rows), "",
              "The unigram entropy is the loss of a model that knows only how often each token occurs: a loss "
              "below it is what the model learned beyond token frequencies.", ""]
    tasks = evaluation.get("tasks", {})
    if "continuation" in tasks:
        settings = tasks["continuation"]["settings"]
        built = evaluation.get("continuation", {})
        shape = (f"a context of {built['context_chars']} characters ending at a sentence boundary and "
                 f"{built['choices']} candidate continuations of {built['continuation_chars']} characters"
                 if {"context_chars", "continuation_chars", "choices"} <= built.keys()
                 else "a context and candidate continuations")
        lines += [f"**Continuation task** (Hagane's own, not a published benchmark): {settings.get('items', '?'):,} "
                  f"items built from those same held-out documents, each {shape}: the true next text, and passages "
                  "of other held-out documents of the same length. `acc` picks the candidate of highest "
                  "log-likelihood, `acc_norm` the highest per byte, `acc_mutual_info` the one the context raised "
                  "most (log p(candidate | context) − log p(candidate)), which discounts passages that are merely "
                  "common text.", ""]
    if tasks:
        rows = []
        for task, entry in tasks.items():
            s = entry["settings"]
            for metric, value in entry["results"].items():
                err = entry["stderr"].get(metric)
                rows.append([task, metric, _number(value), f"± {err:.4f}" if isinstance(err, float) else "",
                             _number(s.get("items", "—")), _number(s.get("num_fewshot", "—")),
                             _number(s["chance"]) if "chance" in s else "—"])
        lines += ["Results (value ± standard error), beside each task's settings:", "",
                  _table(["task", "metric", "value", "± stderr", "items (setting)", "few-shot examples (setting)",
                          "chance level (setting)"], rows), ""]
    return lines


def _use(facts: dict) -> list[str]:
    return [
        "## How to load it", "",
        "With transformers (4.57 or later, and 5; Hagane's tests check that both give the same token ids and "
        "logits), from this folder or its Hub repository:", "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        'tokenizer = AutoTokenizer.from_pretrained(".")  # or "<user>/<repository>"',
        'model = AutoModelForCausalLM.from_pretrained(".")',
        'ids = tokenizer("日本語の文章", return_tensors="pt").input_ids  # BOS is added, as in training',
        "print(tokenizer.decode(model.generate(ids, max_new_tokens=32)[0]))",
        "```", "",
        "With llama.cpp: its own converter takes this folder as it is; then run the GGUF file.", "",
        "```sh",
        "python convert_hf_to_gguf.py . --outtype f32 --outfile model.gguf  # from llama.cpp's repository",
        'llama-cli -m model.gguf -p "日本語の文章" -n 32',
        "```", "",
        "With lm-evaluation-harness (needs `accelerate`):", "",
        "```sh",
        "lm_eval --model hf --model_args pretrained=.,dtype=float32 --tasks <task> --device cpu",
        "```", "",
    ]


def _reproducibility(facts: dict) -> list[str]:
    training, env = facts.get("training", {}), facts.get("environment") or {}
    ranks, threads = training.get("world_size") or training.get("nproc"), training.get("threads_per_rank")
    where = ", ".join(x for x in (
        f"{ranks} rank(s) × {threads} thread(s)" if ranks and threads else None,
        f"torch {env['torch']}" if env.get("torch") else None,
        f"on {env['platform']}" if env.get("platform") else None) if x)
    lines = ["## Reproducibility", "",
             "What a rerun with the same code, configuration and raw files gives:", "",
             "- **Data** (collect → filter → dedup → tokenizer → tokenize): the same bytes on any machine with the "
             "same package versions; thread and worker counts do not change them, except `tokenizer.num_threads` "
             "for a unigram tokenizer (SentencePiece sums its statistics per thread). Filtering's float scores "
             "(fastText, KenLM) come from compiled code that may round differently on another CPU architecture, "
             "so a document at a threshold could fall the other way there.",
             "- **Training**: bit-identical on the same machine type with the same ranks and threads and the same "
             f"torch build{f' ({where})' if where else ''}, also when resumed after a kill. On another CPU or GPU, "
             "torch chooses other kernels for the instruction set it finds, float sums round differently, and the "
             "weights and every figure above differ in the last digits (Hagane's demo gave 5.611 and 5.607 "
             "nats/token on two machines of one cloud machine type)."]
    if training.get("deterministic") is False:
        lines.append("- This model was trained with `pretrain.deterministic: false`: even a rerun on the same machine "
                     "gives other weights.")
    lines += ["- **Evaluation**: from these weights, the same figures on the same machine type, thread count and "
              "torch build; the held-out set and the continuation task's items are the same anywhere.", ""]
    return lines


def _files(facts: dict) -> list[str]:
    files = facts.get("files")
    if files is None:
        return []
    described = {
        "README.md": "this card", "card.json": "the facts this card is rendered from",
        PROVENANCE: "the sha256 of every other file here, and the chain of manifests' sha256 from the training "
                    "data back to the raw files",
        LICENSE_FILE: "the model's licence", GITIGNORE: f"keeps `{SNAKEMAKE_MARKER}` (the workflow's marker) out of "
                                                       "git and Hub uploads",
        "config.json": "the model's configuration", "generation_config.json": "generation defaults (greedy)",
        "tokenizer.json": "the fast tokenizer", "tokenizer.model": "the SentencePiece model",
        "tokenizer_config.json": "BOS/EOS handling and the context length",
        "model.safetensors.index.json": "which weight file holds each tensor",
    }

    def about(name: str) -> str:
        if name.startswith(f"{LICENCES_DIR}/"):
            return "a licence text the training data's sources name"
        return described.get(name, "weights (safetensors)" if name.endswith(".safetensors") else "")

    return ["## Files and checking them", "",
            _table(["file", "what"], [[f"`{name}`", about(name)] for name in files]), "",
            f"To check the files: every entry of `{PROVENANCE}`'s `files` gives a path, its size and sha256.", "",
            "```python",
            "import hashlib, json, pathlib",
            f'for f in json.loads(pathlib.Path("{PROVENANCE}").read_text())["files"]:',
            '    assert hashlib.sha256(pathlib.Path(f["path"]).read_bytes()).hexdigest() == f["sha256"], f["path"]',
            "```", "",
            f"`{PROVENANCE}` also gives the sha256 of the conversion's, the pretraining's and the tokenizer's "
            "manifests and, for every training shard, of each stage's manifest that made it and of the raw files it "
            "was collected from (`sha256sum` your copy of the sources to compare). With the workflow's `results/`, "
            "`hagane audit verify results` recomputes the whole chain.", "",
            f"To upload exactly these files: `hf upload <user>/<repository> . --exclude {SNAKEMAKE_MARKER}` "
            f"(huggingface_hub's CLI) from inside this folder; `{GITIGNORE}` also keeps the workflow's marker "
            f"`{SNAKEMAKE_MARKER}`, written after the folder was made, out of a git push or an upload that sends "
            f"`{GITIGNORE}` with it.", ""]


def render_model_card(facts: dict) -> str:
    a = facts["model_args"]
    parts = [*_header(facts), "", f"# {facts['name']}", "", *_summary(facts), *_intended_use(facts),
             *_licence_section(facts),
             "## Architecture", "",
             _table(["hidden size", "layers", "heads", "KV heads", "FFN size", "vocabulary", "context", "tied embeddings"],
                    [[a["dim"], a["n_layers"], a["n_heads"], a["n_kv_heads"], a["ffn_dim"], a["vocab_size"],
                      a["max_seq_len"], a["tie_embeddings"]]]), ""]
    if "data" in facts:
        parts += _training_data(facts)
    training = facts.get("training", {})
    if training:
        parts += ["## Training configuration", "", "```json",
                  json.dumps(training, indent=2, sort_keys=True, ensure_ascii=False), "```", ""]
    if "tokenizer" in facts:
        parts += ["## Tokenizer", "", "SentencePiece, shipped here as `tokenizer.model` and as a fast "
                  "`tokenizer.json`; BOS is added in front of every text, as in training.", "", "```json",
                  json.dumps(facts["tokenizer"], indent=2, sort_keys=True, ensure_ascii=False), "```", ""]
    parts += [*_evaluation(facts), *_use(facts), *_reproducibility(facts), *_files(facts)]
    if "code" in facts:
        code = facts["code"]
        parts += ["## Provenance", "",
                  f"Made by Hagane {code.get('version', '?')} (git commit {code.get('git_commit') or 'unknown'}"
                  f"{', with uncommitted changes' if code.get('git_dirty') else ''}).", ""]
    return "\n".join(parts)


def write_model_card(path: Path, facts: dict) -> None:
    Path(path).write_text(render_model_card(facts), encoding="utf-8")
